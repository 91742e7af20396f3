"""The operator console in a real browser: Debian's headless Chromium, driven by selenium.

Screenshots of each page land in artifacts/ (gitignored) for a person to look at.
`make test` installs chromium and chromium-driver when they are missing.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from oms import users
from oms.bus import Event, events
from oms.bus.catalogue import CATALOGUE
from oms.ops import create_ops_app
from tests.chromium import headless_chromium
from tests.ops.conftest import retry_until_dead
from tests.support import DECLINED, PASSWORD, Shop

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def browser() -> Iterator[object]:
    with headless_chromium() as session:
        session.implicitly_wait(5)
        yield session


@pytest.fixture
def console_url(shop: Shop) -> Iterator[str]:
    """The operations app on a loopback port, over the shop's runtime."""
    server = make_server("127.0.0.1", 0, create_ops_app(shop.runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def screenshot(browser: object, name: str) -> Path:
    """The whole page, not only the window."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = browser.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    browser.set_window_size(1440, max(height, 600) + 40)  # type: ignore[attr-defined]
    browser.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path


def test_an_admin_signs_in_finds_an_order_reads_its_saga_and_clears_dead_letters(
    shop: Shop, console_url: str, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    product = shop.add_product(price="49.99", stock=10)["productId"]
    buyer = shop.register()
    paid = shop.checkout(buyer, [(product, 2)]).json["orderId"]
    shop.checkout(buyer, [(product, 1)], payment_method=DECLINED)
    shop.checkout(shop.register(), [(product, 50)])
    # users has no handler of order.shipped yet; one that fails leaves a dead letter
    shop.runtime.bus.subscribe(users.MESSAGES, {events.ORDER_SHIPPED: _failing})
    shop.runtime.bus.transport.publish(
        Event("order.shipped", "oms/orders", {"orderId": paid}, correlationid=paid)
    )
    retry_until_dead(shop.runtime)
    b = browser

    b.get(f"{console_url}/orders")  # type: ignore[attr-defined]
    assert "/login" in b.current_url  # type: ignore[attr-defined]
    b.find_element(By.NAME, "email").send_keys(shop.admin.email)  # type: ignore[attr-defined]
    b.find_element(By.NAME, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    b.find_element(By.ID, "sign-in").click()  # type: ignore[attr-defined]

    rows = b.find_elements(By.CSS_SELECTOR, "#orders tbody tr")  # type: ignore[attr-defined]
    assert len(rows) == 3
    screenshot(b, "console-orders")
    b.find_element(By.NAME, "q").send_keys(buyer.email)  # type: ignore[attr-defined]
    b.find_element(By.CSS_SELECTOR, "form.search button").click()  # type: ignore[attr-defined]
    WebDriverWait(b, 5).until(lambda b: "q=" in b.current_url)
    assert len(b.find_elements(By.CSS_SELECTOR, "#orders tbody tr")) == 2  # type: ignore[attr-defined]

    b.find_element(By.LINK_TEXT, paid).click()  # type: ignore[attr-defined]
    WebDriverWait(b, 5).until(lambda b: paid in b.current_url)
    cards = b.find_elements(By.CSS_SELECTOR, "#timeline .card")  # type: ignore[attr-defined]
    titles = [card.text.splitlines()[0] for card in cards]
    expected = ["order.created", "order.confirmed", "payment completed", "order.processing"]
    assert [title for title in titles if title in expected] == expected
    status = b.find_element(By.ID, "order-status").text  # type: ignore[attr-defined]
    assert status == "processing"
    assert "dead letter: order.shipped" in titles, "|".join(titles)
    path = screenshot(b, "console-timeline")
    assert path.stat().st_size > 10_000

    b.find_element(By.LINK_TEXT, "Dead letters").click()  # type: ignore[attr-defined]
    assert "order.shipped" in b.find_element(By.ID, "dead-letters").text  # type: ignore[attr-defined]
    screenshot(b, "console-dead-letters")
    b.find_element(By.ID, "drop-all").click()  # type: ignore[attr-defined]
    assert b.find_element(By.ID, "done").text == "1 dropped."  # type: ignore[attr-defined]

    b.find_element(By.LINK_TEXT, "Stuck orders").click()  # type: ignore[attr-defined]
    assert "No order has been pending" in b.page_source  # type: ignore[attr-defined]
    b.find_element(By.LINK_TEXT, "Events").click()  # type: ignore[attr-defined]
    catalogue = b.find_elements(By.CSS_SELECTOR, "#events tbody tr")  # type: ignore[attr-defined]
    assert len(catalogue) == len(CATALOGUE)
    screenshot(b, "console-events")
    assert str(uuid.UUID(paid)) == paid


def _failing(event: Event, uow: object) -> None:
    raise RuntimeError("address book unavailable")
