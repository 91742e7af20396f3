"""Settings read from the environment, once, by whoever starts OMS."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

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
}


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
    worker_threads: int = 4
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    # Safe at the edge (issue 9): browsers, rate limits, lockout, token checks.
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
            jwt_ttl_seconds=int(env.get("OMS_JWT_TTL_SECONDS", "3600")),
            bcrypt_rounds=int(env.get("OMS_BCRYPT_ROUNDS", "12")),
            currency=env.get("OMS_CURRENCY", "USD").upper(),
            checkout_wait_seconds=float(env.get("OMS_CHECKOUT_WAIT_SECONDS", "10")),
            max_body_bytes=int(env.get("OMS_MAX_BODY_BYTES", str(64 * 1024))),
            payment_gateway=env.get("OMS_PAYMENT_GATEWAY", "simulated"),
            relay_interval_seconds=float(env.get("OMS_RELAY_INTERVAL_SECONDS", "1")),
            relay_grace_seconds=float(env.get("OMS_RELAY_GRACE_SECONDS", "5")),
            worker_threads=int(env.get("OMS_WORKER_THREADS", "4")),
            ports={
                name: int(env.get(f"OMS_PORT_{name.upper()}", port)) for name, port in PORTS.items()
            },
            **_edge_settings(env),
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


def _edge_settings(env: dict[str, str]) -> dict:
    """Settings of issue 9: CORS allow-list, rate limits and lockout, token checks."""
    origins = tuple(
        origin.strip().rstrip("/")
        for origin in env.get("OMS_CORS_ORIGINS", "").split(",")
        if origin.strip()
    )
    integers = {
        "login_max_failures": ("OMS_LOGIN_MAX_FAILURES", 5),
        "login_address_max_failures": ("OMS_LOGIN_ADDRESS_MAX_FAILURES", 50),
        "login_failure_window_seconds": ("OMS_LOGIN_FAILURE_WINDOW_SECONDS", 900),
        "login_lockout_seconds": ("OMS_LOGIN_LOCKOUT_SECONDS", 30),
        "login_lockout_max_seconds": ("OMS_LOGIN_LOCKOUT_MAX_SECONDS", 900),
        "register_rate_limit": ("OMS_REGISTER_RATE_LIMIT", 20),
        "register_rate_window_seconds": ("OMS_REGISTER_RATE_WINDOW_SECONDS", 3600),
        "checkout_rate_limit": ("OMS_CHECKOUT_RATE_LIMIT", 60),
        "checkout_rate_window_seconds": ("OMS_CHECKOUT_RATE_WINDOW_SECONDS", 60),
    }
    values: dict = {name: int(env.get(var, default)) for name, (var, default) in integers.items()}
    values["token_check_ttl_seconds"] = float(env.get("OMS_TOKEN_CHECK_TTL_SECONDS", "5"))
    values["cors_origins"] = origins
    return values


def _local_secret(path: Path) -> str:
    if not path.exists():
        # Created readable by the owner only from the start (no window before a chmod).
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def configure_logging() -> None:
    """One log format for every OMS process (CLI, gunicorn workers, bus workers)."""
    logging.basicConfig(
        level=os.environ.get("OMS_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
