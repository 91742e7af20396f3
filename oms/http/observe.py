"""Every request: an id (kept from X-Request-ID or made), trace context, metrics.

A WSGI middleware around each port's Flask app, so that even responses Flask builds
for errors carry `X-Request-ID`, and every log line written while the request is
handled carries its id (oms.telemetry.context). The id, the port and the route
template are also left in the WSGI environ for gunicorn's access line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request

from oms.telemetry import metrics
from oms.telemetry.context import (
    REQUEST_ID_HEADER,
    bound,
    new_traceparent,
    parse_traceparent,
    request_id_from,
)
from oms.telemetry.logs import ENVIRON_PORT, ENVIRON_REQUEST_ID, ENVIRON_ROUTE
from oms.telemetry.tracing import span

UNMATCHED = "unmatched"  # no route: one label value, whatever the path was


def observe_requests(app: Flask, port: str) -> None:
    app.wsgi_app = RequestTelemetry(app.wsgi_app, port)  # type: ignore[method-assign]
    app.before_request(_remember_route)


def _remember_route() -> None:
    rule = request.url_rule
    request.environ[ENVIRON_ROUTE] = rule.rule if rule is not None else UNMATCHED


class RequestTelemetry:
    def __init__(self, app: Callable[..., Iterable[bytes]], port: str) -> None:
        self.app = app
        self.port = port

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        incoming_trace = parse_traceparent(environ.get("HTTP_TRACEPARENT"))
        environ[ENVIRON_REQUEST_ID] = request_id
        environ[ENVIRON_PORT] = self.port
        statuses: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        method = environ.get("REQUEST_METHOD", "GET")
        with (
            bound(request_id=request_id, traceparent=incoming_trace or new_traceparent()),
            span(f"{method} {self.port}", incoming_trace, "server", **{"http.method": method}),
        ):
            body = self.app(environ, start)
        status = int(statuses[-1].split()[0]) if statuses else 500
        route = environ.get(ENVIRON_ROUTE, UNMATCHED)
        metrics.observe_request(self.port, route, method, status, time.perf_counter() - started)
        return body
