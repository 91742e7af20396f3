"""Wiring: the modules, their handlers and their ports, assembled once per process."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy import MetaData

from oms import orders, payments, products, users
from oms.bff import mobile, web
from oms.bus import Transport
from oms.config import Settings
from oms.http.app import create_port_app
from oms.http.auth import TOKEN_CHECK
from oms.runtime import Runtime

log = logging.getLogger(__name__)

MODULES = (users, products, orders, payments)
PORT_APPS = {
    "orders": ("OMS orders module", orders.blueprints),
    "products": ("OMS products module", products.blueprints),
    "users": ("OMS users module", users.blueprints),
    "payments": ("OMS payments module", payments.blueprints),
    "web": ("OMS web BFF", web.blueprints),
    "mobile": ("OMS mobile BFF", mobile.blueprints),
}
WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def all_metadata() -> list[MetaData]:
    return [module.metadata for module in MODULES]


def start_runtime(settings: Settings, transport: Transport | None = None) -> Runtime:
    """Open the database and the bus, and subscribe every module's handlers."""
    runtime = Runtime.start(settings, transport)
    for module in MODULES:
        runtime.bus.register(module.MESSAGES)
        runtime.bus.subscribe(module.MESSAGES, module.event_handlers(settings))
    return runtime


def create_port_apps(runtime: Runtime) -> dict[str, Flask]:
    apps = {
        name: create_port_app(name, title, runtime, blueprints)
        for name, (title, blueprints) in PORT_APPS.items()
    }
    for app in apps.values():  # a token counts only while its user has not changed
        app.extensions[TOKEN_CHECK] = functools.partial(users.token_is_current, runtime)
    return apps


class PortDispatcher:
    """One WSGI callable for every port: the port a request came in on picks the app."""

    def __init__(self, apps: dict[str, Flask], ports: dict[str, int]) -> None:
        self.by_port = {str(ports[name]): app for name, app in apps.items()}
        self.fallback = apps["web"]

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        app = self.by_port.get(str(environ.get("SERVER_PORT")), self.fallback)
        return app(environ, start_response)


def create_wsgi_app(settings: Settings) -> PortDispatcher:
    runtime = start_runtime(settings)
    if not settings.uses_broker:
        # No worker process in the embedded default: this process relays what its
        # outboxes still hold (after a crash, say) itself.
        start_relay_thread(runtime, threading.Event())
    return PortDispatcher(create_port_apps(runtime), settings.ports)


def start_relay_thread(runtime: Runtime, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(
        target=relay_until, args=(runtime, stop), name="oms-outbox-relay", daemon=True
    )
    thread.start()
    return thread


def relay_until(runtime: Runtime, stop: threading.Event) -> None:
    """Publish whatever the fast path after commit did not (crash, broker outage)."""
    settings = runtime.settings
    grace = 0.0  # at start-up everything left over is fair game
    while not stop.is_set():
        try:
            runtime.bus.relay_pending(older_than_seconds=grace)
        except Exception:
            log.exception("outbox relay failed; retrying")
        grace = settings.relay_grace_seconds
        stop.wait(settings.relay_interval_seconds)
