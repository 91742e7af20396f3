"""One Flask app per port, each with its own OpenAPI document, docs and health checks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, current_app, jsonify, request, send_from_directory
from flask_smorest import Api, Blueprint, abort
from werkzeug.exceptions import HTTPException, InternalServerError

from oms.bus import is_transient
from oms.errors import DomainError, Invalid
from oms.http.edge import install_edge
from oms.http.observe import observe_requests
from oms.http.schemas import ErrorSchema, Money, MoneyInput
from oms.runtime import Runtime

log = logging.getLogger(__name__)
DOCS_ASSETS = "/docs/assets/"
RETRY_AFTER_SECONDS = 2


def current_runtime() -> Runtime:
    return current_app.extensions["oms"]


class OmsApi(Api):
    """flask-smorest's Api with the contract's single error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> tuple[Response, int, dict]:
        data: dict[str, Any] = getattr(error, "data", None) or {}
        payload: dict[str, Any] = {
            "code": error.code,
            "status": error.name,
            "message": data.get("message") or error.description or error.name,
        }
        if "messages" in data:  # webargs validation errors, keyed by location
            payload["errors"] = _flatten_locations(data["messages"])
            payload["message"] = (
                "The request body is not valid JSON."
                if error.code == 400
                else "The request is not valid."
            )
        headers = dict(error.get_headers())
        headers.pop("Content-Type", None)
        headers.update(data.get("headers") or {})
        return jsonify(payload), error.code or 500, headers


def _flatten_locations(messages: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for location, location_errors in messages.items():
        if isinstance(location_errors, dict):
            flat.update(location_errors)
        else:  # the body as a whole, e.g. not JSON at all
            flat[f"_{location}"] = location_errors
    return flat


def create_port_app(
    name: str, title: str, runtime: Runtime, blueprints: Iterable[Blueprint]
) -> Flask:
    app = Flask(f"oms.{name}")
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
        MAX_CONTENT_LENGTH=runtime.settings.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    app.extensions["oms"] = runtime
    api = OmsApi(app, spec_kwargs=_spec_kwargs())
    api.register_field(Money, "string", None)
    api.register_field(MoneyInput, None, None)  # documented by its own anyOf
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    _add_operations_routes(app)
    app.before_request(_refuse_unusable_json)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(Exception, _unexpected_error)
    observe_requests(app, name)
    install_edge(app, runtime.settings, cors=name in ("web", "mobile"))
    return app


def _refuse_unusable_json() -> None:
    """400 for JSON that parses in no useful way: nested past reason, or text that is
    not Unicode (lone surrogates) or that no database stores (NUL)."""
    if not request.is_json or not request.content_length:
        return
    try:
        document = json.loads(request.get_data(cache=True))
        _check_text(document)
    except (ValueError, RecursionError, UnicodeEncodeError):
        abort(400, message="The request body is not valid JSON text.")


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        value.encode("utf-8")
        if "\x00" in value:
            raise ValueError("NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _spec_kwargs() -> dict[str, Any]:
    return {
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        }
    }


def _add_operations_routes(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        runtime = current_runtime()
        problems = {}
        for part, check in (
            ("database", runtime.database.ping),
            ("broker", runtime.bus.ping),
        ):
            try:
                check()
            except Exception as error:  # the driver's text names hosts and ports: log it only
                log.warning("readiness: the %s is unreachable: %r", part, error)
                problems[part] = "unreachable"
        if problems:
            return jsonify(status="unavailable", problems=problems), 503
        return jsonify(status="ready"), 200

    @app.get(f"{DOCS_ASSETS}<path:filename>")
    def docs_assets(filename: str) -> Response:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)


def _domain_error(error: DomainError) -> tuple[Response, int, dict]:
    body: dict[str, Any] = {
        "code": error.status_code,
        "status": _reason(error.status_code),
        "message": error.message,
    }
    if isinstance(error, Invalid) and error.errors:
        body["errors"] = error.errors
    return jsonify(body), error.status_code, getattr(error, "headers", {})


def _reason(code: int) -> str:
    return HTTPStatus(code).phrase


def _unexpected_error(error: Exception) -> tuple[Response, int] | tuple[Response, int, dict]:
    if is_transient(error):  # the database or the broker is away: worth a retry
        log.warning("dependency unavailable: %r", error)
        body = {
            "code": 503,
            "status": _reason(503),
            "message": "OMS cannot reach its database or broker right now; try again shortly.",
        }
        return jsonify(body), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    log.exception("unexpected error", exc_info=error)
    internal = InternalServerError()
    body = {"code": 500, "status": internal.name, "message": "Something went wrong on our side."}
    return jsonify(body), 500
