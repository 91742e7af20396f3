"""Posting one signed delivery over HTTP, and refusing targets inside the network.

A webhook URL is checked when it is registered (it must not resolve to a loopback,
private, link-local or otherwise non-public address) and again on every delivery,
where the check is on the address actually connected to: a name that resolved to a
public address at registration and to an internal one later (DNS rebinding) is
refused. No proxies from the environment, no redirects followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
USER_AGENT = "OMS-Webhooks/1"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
MAX_RESPONSE_BYTES = 64 * 1024  # read (and ignored) so the connection closes cleanly


class TargetRefused(ValueError):
    """A URL OMS will not send to."""


def check_url(url: str, allow_private: bool) -> None:
    """Raise TargetRefused unless `url` is an http(s) URL of a public host."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise TargetRefused("Use an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise TargetRefused("Credentials in the URL are not accepted.")
    try:
        port = parts.port
    except ValueError as error:
        raise TargetRefused("The port is not valid.") from error
    if allow_private:
        return
    try:
        found = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise TargetRefused("The host name does not resolve.") from error
    for *_, sockaddr in found:
        _check_address(str(sockaddr[0]))


def _check_address(address: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is not part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise TargetRefused(
            "The URL resolves to a loopback, private or link-local address; "
            "set OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it."
        )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `OMS-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error before any answer came."""

    response_code: int | None
    duration_ms: int
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
) -> Outcome:
    """POST `body` to `url` once; never raises for what the network or the receiver does."""
    started = time.monotonic()
    try:
        code = _post(url, body, headers, timeout, allow_private)
    except TargetRefused as error:
        return Outcome(None, _since(started), f"refused: {error}")
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Outcome(None, _since(started), f"{type(error).__name__}: {error}"[:500])
    return Outcome(code, _since(started), None if 200 <= code < 300 else f"HTTP {code}")


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool
) -> int:
    parts = urlsplit(url)
    connection = _connection(parts.scheme, parts.hostname or "", parts.port, timeout, allow_private)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        all_headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            **headers,
        }
        connection.request("POST", target, body=body, headers=all_headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    finally:
        connection.close()


def _connection(
    scheme: str, host: str, port: int | None, timeout: float, allow_private: bool
) -> http.client.HTTPConnection:
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    if not allow_private:
        connection._create_connection = _connect_to_public_address  # type: ignore[attr-defined]
    return connection


def _connect_to_public_address(
    address: tuple[str, int], *args: Any, **kwargs: Any
) -> socket.socket:
    """socket.create_connection, then refuse unless the peer is a public address (checked
    on the connected socket, before a byte is sent: DNS cannot be rebound in between)."""
    sock = socket.create_connection(address, *args, **kwargs)
    try:
        _check_address(str(sock.getpeername()[0]))
    except TargetRefused:
        sock.close()
        raise
    return sock


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
