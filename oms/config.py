"""Settings read from the environment, once, by whoever starts OMS."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///oms.db"
DEFAULT_BROKER_URL = "memory://"
BROKER_REQUEST_THREADS = 8
IN_PROCESS_REQUEST_THREADS = 1
SECRET_FILE = ".oms-jwt-secret"

PORTS = {
    "orders": 3001,
    "products": 3002,
    "users": 3003,
    "payments": 3004,
    "web": 3010,
    "mobile": 3011,
    "ops": 3020,
}


FLAGS = {"1": True, "true": True, "yes": True, "on": True} | {
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}


class ConfigurationError(RuntimeError):
    """OMS refuses to start with these settings."""


def _one_of(*choices: str, default: str) -> Any:
    """A field that takes one of `choices` (any case); anything else is refused."""
    return field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str = DEFAULT_BROKER_URL
    broker_namespace: str = ""
    jwt_secret: str = ""
    jwt_ttl_seconds: int = 3600
    bcrypt_rounds: int = 12
    currency: str = "USD"
    checkout_wait_seconds: float = 10.0
    max_body_bytes: int = 64 * 1024
    payment_gateway: str = "simulated"
    relay_interval_seconds: float = 1.0
    relay_grace_seconds: float = 5.0
    max_delivery_attempts: int = 5
    retry_initial_seconds: float = 1.0
    retry_max_delay_seconds: float = 60.0
    retry_budget_seconds: float = 600.0
    delivery_limit: int = 20
    saga_deadline_seconds: float = 300.0
    db_connect_timeout_seconds: float = 3.0
    db_statement_timeout_seconds: float = 5.0
    worker_threads: int = 4
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    webhook_retry_initial_seconds: float = 10.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_max_attempts: int = 16
    webhook_timeout_seconds: float = 10.0
    webhook_allow_private_targets: bool = False
    webhook_disable_after_failed_deliveries: int = 5
    webhook_poll_interval_seconds: float = 1.0
    cors_origins: tuple[str, ...] = ()
    login_max_failures: int = 5
    login_address_max_failures: int = 50
    login_failure_window_seconds: int = 900
    login_lockout_seconds: int = 30
    login_lockout_max_seconds: int = 900
    register_rate_limit: int = 20
    register_rate_window_seconds: int = 3600
    checkout_rate_limit: int = 60
    checkout_rate_window_seconds: int = 60
    token_check_ttl_seconds: float = 5.0
    # The process: where it listens, how gunicorn sizes it, how it logs.
    host: str = "127.0.0.1"
    web_connections: int = 1000
    web_workers: int = 0  # 0: automatic (see config/gunicorn.conf.py)
    web_threads: int = 0  # 0: automatic (`request_threads`)
    request_read_timeout_seconds: float = 30.0
    worker_metrics_port: int = 0  # 0: off
    log_format: str = _one_of("text", "json", default="text")
    log_level: str = _one_of(*logging.getLevelNamesMapping(), default="INFO")

    @property
    def request_threads(self) -> int:
        """Request threads per gunicorn process: `web_threads`, or by the bus. With the
        broker, a checkout's thread waits while workers run its saga: enough threads for
        the clients that wait at once. On the in-process bus a request's thread runs the
        saga itself, so a second thread only competes for the GIL with the one holding
        SQLite's writer turn (which then holds it longer): a process per core with one
        thread each keeps the writer running. Measured with `make bench` (16 clients, 2
        cores, 10 s phases): 2 processes x 2 threads 164-207 checkouts/s at p99 134-158
        ms; 2 x 1 thread 282-328/s at p99 66-92 ms; 3 or 4 x 1 thread 237-305/s, p99
        97-118 ms."""
        if self.web_threads:
            return self.web_threads
        return BROKER_REQUEST_THREADS if self.uses_broker else IN_PROCESS_REQUEST_THREADS

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite") and self.broker_url == DEFAULT_BROKER_URL

    @property
    def uses_broker(self) -> bool:
        return self.broker_url != DEFAULT_BROKER_URL

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Every field from its variable, `OMS_<FIELD NAME>` (the ports from
        `OMS_PORT_<NAME>`); a bad value is a one-line ConfigurationError naming it."""
        env = dict(os.environ if env is None else env)
        values = {
            item.name: _parse(f"OMS_{item.name.upper()}", env[f"OMS_{item.name.upper()}"], item)
            for item in fields(cls)
            if item.name != "ports" and f"OMS_{item.name.upper()}" in env
        }
        ports = {name: env.get(f"OMS_PORT_{name.upper()}") for name in PORTS}
        values["ports"] = {
            name: _number(f"OMS_PORT_{name.upper()}", raw, int) if raw else PORTS[name]
            for name, raw in ports.items()
        }
        settings = cls(**values)
        return replace(settings, currency=settings.currency.upper()).with_jwt_secret()

    def with_jwt_secret(self) -> Settings:
        """Use the configured secret; the embedded default may keep its own in a local file."""
        if self.jwt_secret:
            if len(self.jwt_secret.encode()) < 32:
                raise ConfigurationError("OMS_JWT_SECRET must be at least 32 bytes long")
            return self
        if not self.is_embedded:
            raise ConfigurationError(
                "OMS_JWT_SECRET is required when OMS runs on PostgreSQL or RabbitMQ"
            )
        return replace(self, jwt_secret=_local_secret(Path(SECRET_FILE)))


def _parse(name: str, raw: str, item: Field) -> Any:
    """`raw` as the type of the field's default."""
    if "choices" in item.metadata:
        return _choice(name, raw, item.metadata["choices"])
    kind = type(item.default)
    if kind is tuple:  # a comma-separated list
        return tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    if kind is bool:
        return _flag(name, raw)
    if kind in (int, float):
        # A default of 0 means off or automatic: 0 may be asked for explicitly too.
        return _number(name, raw, kind, allow_zero=item.default == 0)
    return raw


def _number(
    name: str, raw: str, kind: type[int] | type[float], allow_zero: bool = False
) -> int | float:
    """The positive number in `raw`, or a one-line error."""
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "greater than 0"
        raise ConfigurationError(f"{name} must be {least}, not {raw!r}")
    return value


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    """The one of `choices` that `raw` names, whatever its case, or a one-line error."""
    chosen = {choice.lower(): choice for choice in choices}.get(raw.strip().lower())
    if chosen is None:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return chosen


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in FLAGS:
        raise ConfigurationError(f"{name} must be true or false, not {raw!r}")
    return FLAGS[value]


def _local_secret(path: Path) -> str:
    if not path.exists():
        # Created readable by the owner only from the start (no window before a chmod).
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def configure_logging(settings: Settings) -> None:
    """One log format for every OMS process (CLI, gunicorn workers, bus workers):
    JSON lines with OMS_LOG_FORMAT=json, readable text otherwise (oms.telemetry.logs)."""
    from oms.telemetry.logs import configure_logging as configure

    configure(settings.log_format, settings.log_level)
