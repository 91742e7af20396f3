"""Wiring: the modules, their handlers and their ports, assembled once per process."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from flask import Flask
from sqlalchemy import MetaData

from oms import orders, payments, products, users, webhooks
from oms.bff import mobile, web
from oms.bus import Transport
from oms.config import Settings
from oms.http.app import create_port_app
from oms.http.auth import TOKEN_CHECK
from oms.ops import create_ops_app
from oms.runtime import Runtime

log = logging.getLogger(__name__)

# The registry: every module, written once. Its schema, tables, handlers and queue come
# from here; oms.db.SCHEMAS and the import-linter contracts are checked against it.
MODULES = (users, products, orders, payments, webhooks)
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


def create_port_apps(runtime: Runtime, names: Iterable[str] = tuple(PORT_APPS)) -> dict[str, Flask]:
    """The app of each port in `names` (all of them by default)."""
    apps = {}
    for name in names:
        title, blueprints = PORT_APPS[name]
        apps[name] = app = create_port_app(name, title, runtime, blueprints)
        # a token counts only while its user has not changed
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
        start_upkeep_thread(runtime, threading.Event())
        start_webhook_thread(runtime, threading.Event())
    apps = create_port_apps(runtime)
    apps["ops"] = create_ops_app(runtime)  # metrics, AsyncAPI, the operator console
    return PortDispatcher(apps, settings.ports)


def start_upkeep_thread(runtime: Runtime, stop: threading.Event) -> threading.Thread:
    """The bus's upkeep (outbox relay, retries, dead letters), the database's (SQLite's
    checkpoints) and the modules' own: orders past their saga deadline are cancelled
    (their stock released, any charge refunded, through the same events as any
    cancellation)."""
    tasks = {
        "database checkpoint": runtime.database.checkpoint,
        "saga deadlines": partial(orders.cancel_overdue_orders, runtime),
    }
    settings = runtime.settings
    thread = threading.Thread(
        target=runtime.bus.run_upkeep,
        args=(stop, settings.relay_interval_seconds, settings.relay_grace_seconds, tasks),
        name="oms-outbox-relay",
        daemon=True,
    )
    thread.start()
    return thread


def start_webhook_thread(runtime: Runtime, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(
        target=deliver_webhooks_until,
        args=(runtime, stop),
        name="oms-webhook-deliveries",
        daemon=True,
    )
    thread.start()
    return thread


def deliver_webhooks_until(runtime: Runtime, stop: threading.Event) -> None:
    """POST due webhook deliveries until stopped. Several processes may run this: each
    delivery is claimed by one of them at a time."""
    while not stop.is_set():
        try:
            # Keep going while there was work: sending an order's event may make its
            # next one due at once.
            while webhooks.deliver_due(runtime) and not stop.is_set():
                pass
        except Exception:
            log.exception("webhook delivery failed; retrying")
        stop.wait(runtime.settings.webhook_poll_interval_seconds)
