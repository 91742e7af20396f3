"""The operations port (OMS_PORT_OPS, 3020): metrics, the event catalogue, the console.

`GET /metrics` (Prometheus text), `GET /asyncapi.json` (AsyncAPI 3) and `GET /asyncapi`
(the same, readable) are open, like /healthz: bind this port to loopback or a private
network. The console pages need an admin (oms.ops.console).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Blueprint, Flask, Response, jsonify, render_template

from oms.http.app import create_port_app, current_runtime
from oms.ops.asyncapi import asyncapi_document
from oms.ops.collector import DatabaseGauges
from oms.ops.console import console
from oms.runtime import Runtime
from oms.telemetry import metrics

__all__ = ["create_ops_app"]

operations = Blueprint("operations", __name__, template_folder="templates")


def create_ops_app(runtime: Runtime) -> Flask:
    app = create_port_app("ops", "OMS operations", runtime, [])
    app.extensions["oms_gauges"] = DatabaseGauges(runtime)
    app.secret_key = hmac.new(
        runtime.settings.jwt_secret.encode(), b"oms console session", hashlib.sha256
    ).hexdigest()
    app.config.update(
        SESSION_COOKIE_NAME="oms_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=runtime.settings.jwt_ttl_seconds),
    )
    metrics.init_known_labels()
    app.register_blueprint(operations)
    app.register_blueprint(console)
    return app


@operations.get("/metrics")
def prometheus_metrics() -> Response:
    from flask import current_app

    body = metrics.exposition([current_app.extensions["oms_gauges"]])
    return Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE)


def _document() -> dict:
    rt = current_runtime()
    return asyncapi_document(rt.bus.subscriptions, rt.settings.broker_namespace)


@operations.get("/asyncapi.json")
def asyncapi_json() -> Response:
    return jsonify(_document())


@operations.get("/asyncapi")
def asyncapi_page() -> str:
    return render_template("asyncapi.html", document=_document())
