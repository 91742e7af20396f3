"""CORS as a browser enforces it: headless Chromium on a page from another origin.

A real `oms serve` (embedded) allows one origin in `OMS_CORS_ORIGINS`: a page served from
there (a local HTTP server on another port) can sign in, read the catalogue, read the
signed-in user with its bearer token and send an `Idempotency-Key`; the same page served
from an origin not on the list is blocked by the browser on every call.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.chromium import headless_chromium
from tests.integration.processes import (
    LOOPBACK,
    OmsProcesses,
    free_port,
    oms_environment,
    oms_processes,
    run_oms,
)

pytestmark = pytest.mark.slow

SECRET = "browser-test-secret-long-enough-for-hs256!!"
PASSWORD = "correct horse battery"
PAGE = "<!doctype html><html><head><title>shop</title></head><body>shop</body></html>"
# Runs in the page: every call the web shop makes, each reported as its status or the error.
CALLS = """
const [api, email, password, done] = arguments;
const report = {};
async function call(name, path, init) {
  try {
    const response = await fetch(api + path, init);
    report[name] = {status: response.status, body: await response.json(),
                    requestId: response.headers.get('X-Request-ID'),
                    ratelimit: response.headers.get('RateLimit-Limit')};
  } catch (error) { report[name] = {error: String(error)}; }
}
const json = {'Content-Type': 'application/json'};
await call('products', '/api/v1/products', {});
await call('register', '/api/v1/auth/register', {method: 'POST', headers: json,
  body: JSON.stringify({email, password, firstName: 'Ada', lastName: 'Lovelace'})});
await call('login', '/api/v1/auth/login', {method: 'POST', headers: json,
  body: JSON.stringify({email, password})});
const token = report.login.body ? report.login.body.token : 'none';
await call('me', '/api/v1/users/me', {headers: {'Authorization': 'Bearer ' + token,
  'X-Request-ID': 'browser-request-1', 'Idempotency-Key': 'browser-key-1'}});
done(report);
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with headless_chromium() as chrome:
        chrome.set_script_timeout(30)
        yield chrome


def _page_server(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((LOOPBACK, free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{LOOPBACK}:{server.server_address[1]}"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    directory = tmp_path_factory.mktemp("pages")
    (directory / "index.html").write_text(PAGE)
    allowed, allowed_origin = _page_server(directory)
    other, other_origin = _page_server(directory)
    yield {"allowed": allowed_origin, "other": other_origin}
    allowed.shutdown()
    other.shutdown()


@pytest.fixture(scope="module")
def oms(tmp_path_factory: pytest.TempPathFactory, pages: dict[str, str]) -> Iterator[OmsProcesses]:
    data = tmp_path_factory.mktemp("browser-oms")
    env = oms_environment(
        OMS_DATABASE_URL=f"sqlite:///{data / 'oms.db'}",
        OMS_JWT_SECRET=SECRET,
        OMS_BCRYPT_ROUNDS="4",
        OMS_CORS_ORIGINS=pages["allowed"],
    )
    run_oms(env, "db", "upgrade")
    with oms_processes(env, data / "logs", workers=0) as processes:
        yield processes


def _run_calls(browser: object, page: str, oms: OmsProcesses, email: str) -> dict:
    browser.get(f"{page}/index.html")  # type: ignore[attr-defined]
    return browser.execute_async_script(CALLS, oms.web_url, email, PASSWORD)  # type: ignore[attr-defined]


def test_a_page_on_an_allowed_origin_can_use_the_web_bff(
    browser: object, pages: dict[str, str], oms: OmsProcesses
) -> None:
    report = _run_calls(browser, pages["allowed"], oms, "browser-allowed@example.com")
    assert report["products"]["status"] == 200, report
    assert report["register"]["status"] == 201, report
    assert report["login"]["status"] == 200, report
    assert report["me"]["status"] == 200, report
    assert report["me"]["body"]["email"] == "browser-allowed@example.com"


def test_a_page_on_another_origin_is_blocked_by_the_browser(
    browser: object, pages: dict[str, str], oms: OmsProcesses
) -> None:
    report = _run_calls(browser, pages["other"], oms, "browser-other@example.com")
    for call in ("products", "register", "login", "me"):
        assert "error" in report[call], (call, report[call])
        assert "Failed to fetch" in report[call]["error"]
    # the preflight the browser sent was refused, so the sign-up never happened
    login = requests.post(
        f"{oms.web_url}/api/v1/auth/login",
        json={"email": "browser-other@example.com", "password": PASSWORD},
        timeout=10,
    )
    assert login.status_code == 401
