"""What every response at the edge carries: security headers, CORS, body limits.

- `X-Content-Type-Options`, frame denial (`X-Frame-Options` and CSP `frame-ancestors`),
  `Referrer-Policy` on everything; a CSP that allows nothing for the JSON API, and one
  for the local Swagger UI on /docs that allows its own assets and the one inline
  script of the page (by hash, computed from the page itself).
- `Cache-Control: no-store` on every API response except anonymous catalogue reads:
  those carry tokens (sign-in, sign-up) or personal data (users, orders, payments).
- CORS (web and mobile BFFs) from the `OMS_CORS_ORIGINS` allow-list; empty: none.
- Bodies over `OMS_MAX_BODY_BYTES` are 413, whatever their content type, with or
  without `Content-Length` (chunked).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re

from flask import Flask, Response, request
from flask_cors import CORS
from flask_smorest import abort

from oms.config import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The operator console: server-rendered pages with their own styles and forms, no script.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
ALLOWED_REQUEST_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
EXPOSED_HEADERS = [
    "Location",
    "Link",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
    "Idempotency-Key",
    "Idempotent-Replayed",
    "X-Pagination",
    "ETag",
]
CORS_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]
CORS_MAX_AGE = 600
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
PUBLIC_READS = ("/api/v1/products",)
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-site"),
)
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def install_edge(app: Flask, settings: Settings, *, cors: bool) -> None:
    if cors and settings.cors_origins:
        CORS(
            app,
            origins=list(settings.cors_origins),
            allow_headers=ALLOWED_REQUEST_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            methods=CORS_METHODS,
            max_age=CORS_MAX_AGE,
            supports_credentials=False,  # bearer tokens, no cookies
            vary_header=True,
        )
    app.before_request(refuse_oversized_body)
    app.after_request(add_security_headers)


def refuse_oversized_body() -> None:
    environ = request.environ  # read directly: this runs on every request
    declared = environ.get("CONTENT_LENGTH")
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not (declared or chunked):
        return
    limit = request.max_content_length
    if limit is None:
        return
    if declared:
        if declared.isdigit() and int(declared) > limit:
            abort(413, message=f"The request body is larger than {limit} bytes.")
        return
    # Chunked: read at most one byte past the limit, then give the app what was read.
    data = environ["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        abort(413, message=f"The request body is larger than {limit} bytes.")
    environ["wsgi.input"] = io.BytesIO(data)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    # No view sets these; extend() is several times cheaper than setdefault() per header.
    headers.extend(COMMON_HEADERS)
    if request.path == "/docs" and response.mimetype == "text/html":
        headers["Content-Security-Policy"] = DOCS_CSP.format(scripts=_script_hashes(response))
    elif response.mimetype == "text/html":
        headers.add("Content-Security-Policy", PAGE_CSP)
    else:
        headers.add("Content-Security-Policy", API_CSP)
    if _carries_private_data():
        headers.extend(NO_STORE)
    return response


def _carries_private_data() -> bool:
    if not request.path.startswith("/api/"):
        return False
    anonymous_read = request.method in ("GET", "HEAD") and "Authorization" not in request.headers
    return not (anonymous_read and request.path.startswith(PUBLIC_READS))


def _script_hashes(response: Response) -> str:
    body = response.get_data()
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(body)
    )
