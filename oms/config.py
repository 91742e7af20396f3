"""Settings read from the environment, once, by whoever starts OMS."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

DEFAULT_DATABASE_URL = "sqlite:///oms.db"
DEFAULT_BROKER_URL = "memory://"
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


_N = TypeVar("_N", int, float)


class ConfigurationError(RuntimeError):
    """OMS refuses to start with these settings."""


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
    max_page_size: int = 100
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

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite") and self.broker_url == DEFAULT_BROKER_URL

    @property
    def uses_broker(self) -> bool:
        return self.broker_url != DEFAULT_BROKER_URL

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        settings = cls(
            database_url=env.get("OMS_DATABASE_URL", DEFAULT_DATABASE_URL),
            broker_url=env.get("OMS_BROKER_URL", DEFAULT_BROKER_URL),
            broker_namespace=env.get("OMS_BROKER_NAMESPACE", ""),
            jwt_secret=env.get("OMS_JWT_SECRET", ""),
            jwt_ttl_seconds=_number(env, "OMS_JWT_TTL_SECONDS", cls.jwt_ttl_seconds),
            bcrypt_rounds=_number(env, "OMS_BCRYPT_ROUNDS", cls.bcrypt_rounds),
            currency=env.get("OMS_CURRENCY", "USD").upper(),
            checkout_wait_seconds=_number(
                env, "OMS_CHECKOUT_WAIT_SECONDS", cls.checkout_wait_seconds
            ),
            max_body_bytes=_number(env, "OMS_MAX_BODY_BYTES", cls.max_body_bytes),
            payment_gateway=env.get("OMS_PAYMENT_GATEWAY", "simulated"),
            relay_interval_seconds=_number(
                env, "OMS_RELAY_INTERVAL_SECONDS", cls.relay_interval_seconds
            ),
            relay_grace_seconds=_number(env, "OMS_RELAY_GRACE_SECONDS", cls.relay_grace_seconds),
            max_delivery_attempts=_number(
                env, "OMS_MAX_DELIVERY_ATTEMPTS", cls.max_delivery_attempts
            ),
            retry_initial_seconds=_number(
                env, "OMS_RETRY_INITIAL_SECONDS", cls.retry_initial_seconds
            ),
            retry_max_delay_seconds=_number(
                env, "OMS_RETRY_MAX_DELAY_SECONDS", cls.retry_max_delay_seconds
            ),
            retry_budget_seconds=_number(env, "OMS_RETRY_BUDGET_SECONDS", cls.retry_budget_seconds),
            delivery_limit=_number(env, "OMS_DELIVERY_LIMIT", cls.delivery_limit),
            saga_deadline_seconds=_number(
                env, "OMS_SAGA_DEADLINE_SECONDS", cls.saga_deadline_seconds
            ),
            db_connect_timeout_seconds=_number(
                env, "OMS_DB_CONNECT_TIMEOUT_SECONDS", cls.db_connect_timeout_seconds
            ),
            db_statement_timeout_seconds=_number(
                env, "OMS_DB_STATEMENT_TIMEOUT_SECONDS", cls.db_statement_timeout_seconds
            ),
            worker_threads=_number(env, "OMS_WORKER_THREADS", cls.worker_threads),
            ports={
                name: _number(env, f"OMS_PORT_{name.upper()}", port) for name, port in PORTS.items()
            },
            webhook_retry_initial_seconds=float(env.get("OMS_WEBHOOK_RETRY_INITIAL_SECONDS", "10")),
            webhook_retry_max_seconds=float(env.get("OMS_WEBHOOK_RETRY_MAX_SECONDS", "3600")),
            webhook_max_attempts=int(env.get("OMS_WEBHOOK_MAX_ATTEMPTS", "16")),
            webhook_timeout_seconds=float(env.get("OMS_WEBHOOK_TIMEOUT_SECONDS", "10")),
            webhook_allow_private_targets=_flag(env.get("OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS", "")),
            webhook_disable_after_failed_deliveries=int(
                env.get("OMS_WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES", "5")
            ),
            webhook_poll_interval_seconds=float(env.get("OMS_WEBHOOK_POLL_INTERVAL_SECONDS", "1")),
        )
        return settings.with_jwt_secret()

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


def _number(env: dict[str, str], name: str, default: _N) -> _N:
    """The positive number in `name` (of the default's type), or a one-line error."""
    raw = env.get(name)
    if raw is None:
        return default
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be greater than 0, not {raw!r}")
    return value


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _local_secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def configure_logging() -> None:
    """One log format for every OMS process (CLI, gunicorn workers, bus workers):
    JSON lines with OMS_LOG_FORMAT=json, readable text otherwise (oms.telemetry.logs)."""
    from oms.telemetry.logs import configure_logging as configure

    configure()
