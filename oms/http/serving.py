"""The gunicorn worker `oms serve` uses: gthread, with every request read in full first.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes
arrive; the thread then blocks reading the rest. Eight clients that send half a request
and wait held all eight threads, and every port stopped answering. This worker reads
each request on its event loop instead, without blocking, into a buffer: only a request
whose head and body (by `Content-Length` or the chunked terminator) have arrived in full
goes to a thread, which parses it from that buffer. An idle or trickling connection
costs a file descriptor and its buffered bytes, never a thread. A request that is not
complete after `OMS_REQUEST_READ_TIMEOUT_SECONDS` is closed. Requests whose head or
body exceed the limits go to a thread as soon as the limit is passed, where the parser
or the application refuses them (431, 414, 413) without waiting for the rest.

The server's own error answers (malformed request line, headers too large) use the one
JSON error shape of the API instead of gunicorn's HTML page.
"""

from __future__ import annotations

import errno
import json
import selectors
import time
from contextlib import suppress
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.workers import gthread

from oms.config import Settings

READ_SIZE = 65536
HEAD_LIMIT = 64 * 1024  # past this the parser refuses the head (431/414) anyway
SECURITY_HEADERS = (
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
    "Cache-Control: no-store\r\n"
)
MESSAGES = {
    400: "The request is malformed.",
    403: "The request is forbidden.",
    408: "The request was not sent in time.",
    414: "The request line is too long.",
    417: "The expectation cannot be met.",
    431: "The request headers are too large.",
    500: "Something went wrong on our side.",
    501: "The transfer coding is not supported.",
}


def error_response(status: int, reason: str | None = None) -> bytes:
    """A complete HTTP/1.1 response in the API's one error shape; the connection closes."""
    reason = reason or HTTPStatus(status).phrase
    body = json.dumps(
        {"code": status, "status": reason, "message": MESSAGES.get(status, reason)}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{SECURITY_HEADERS}\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Replaces gunicorn's HTML error page (`gunicorn.util.write_error`)."""
    util.write_nonblock(sock, error_response(status_int, reason))


INCOMPLETE, WHOLE, REFUSABLE = "incomplete", "whole", "refusable"


def request_state(data: bytes | bytearray, max_body: int) -> str:
    """WHOLE: `data` holds a whole request; REFUSABLE: enough of one for the parser or the
    application to refuse it (too large, malformed); else INCOMPLETE.

    Deliberately lenient: anything odd is handed on, and gunicorn's parser decides.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return REFUSABLE if len(data) > HEAD_LIMIT else INCOMPLETE
    body_start = end + 4
    try:
        content_length, chunked = _body_framing(bytes(data[:end]))
    except ValueError:
        return REFUSABLE  # the parser refuses it
    if chunked:
        return _chunked_complete(data, body_start, max_body)
    if content_length is None:
        return WHOLE
    if content_length > max_body or content_length < 0:
        return REFUSABLE  # the application refuses it (413) unread
    return WHOLE if len(data) - body_start >= content_length else INCOMPLETE


def _body_framing(head: bytes) -> tuple[int | None, bool]:
    """The Content-Length (if any) and whether the body is chunked, from a request head."""
    content_length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            content_length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return content_length, chunked


def _chunked_complete(data: bytes | bytearray, position: int, max_body: int) -> str:
    total = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:  # a chunk-size line that long is refused
            return REFUSABLE if len(data) - position > 1024 else INCOMPLETE
        size_text = bytes(data[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return REFUSABLE  # the parser refuses it
        total += size
        if total > max_body:
            return REFUSABLE  # the application refuses it (413)
        if size == 0:  # the last chunk, then trailers up to an empty line
            return WHOLE if data.find(b"\r\n\r\n", line_end) >= 0 else INCOMPLETE
        position = line_end + 2 + size + 2
        if position > len(data):
            return INCOMPLETE


class BufferingThreadWorker(gthread.ThreadWorker):
    """gthread, but a connection reaches a thread only with a whole request in hand."""

    def init_process(self) -> None:
        util.write_error = write_json_error  # the server's own errors in the API's shape
        # Read in the worker (gunicorn's config has no place for OMS's settings); the
        # arbiter read the same environment in config/gunicorn.conf.py and did not refuse it.
        settings = Settings.from_env()
        self.read_timeout = settings.request_read_timeout_seconds
        self.max_body = settings.max_body_bytes
        self.reading: dict[int, Any] = {}  # fd -> connection still sending its request
        super().init_process()

    # A new connection, a kept-alive one that became readable, or one that may hold a
    # pipelined request: all start (or go on) reading on the event loop.
    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = gthread.TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._start_reading(conn, b"")

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        # Usually the whole next request is there already: read it before registering.
        self._start_reading(conn, b"", register=False)
        if self._read_available(conn):
            self._register(conn)

    def enqueue_req(self, conn: Any) -> None:
        if getattr(conn, "oms_complete", False):
            conn.oms_complete = False
            super().enqueue_req(conn)
            return
        # gunicorn re-enqueues a kept-alive connection whose parser read ahead into the
        # next request: take those bytes back and read the rest on the event loop.
        ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        self._start_reading(conn, ahead)

    def _start_reading(self, conn: Any, already: bytes, register: bool = True) -> None:
        conn.sock.setblocking(False)
        conn.oms_buffer = bytearray(already)
        conn.oms_deadline = time.monotonic() + self.read_timeout
        conn.oms_state = request_state(already, self.max_body) if already else INCOMPLETE
        if conn.oms_state != INCOMPLETE:
            self._dispatch(conn)
        elif register:
            self._register(conn)

    def _register(self, conn: Any) -> None:
        self.reading[conn.sock.fileno()] = conn
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: Any, client: Any) -> None:
        self._read_available(conn)

    def _read_available(self, conn: Any) -> bool:
        """Read what has arrived; whether the connection still waits for more of its request."""
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        if not data:  # closed by the client
            self._stop_reading(conn)
            self._close(conn)
            return False
        conn.oms_buffer += data
        conn.oms_state = request_state(conn.oms_buffer, self.max_body)
        if conn.oms_state == INCOMPLETE:
            return True
        self._stop_reading(conn)
        self._dispatch(conn)
        return False

    def _dispatch(self, conn: Any) -> None:
        conn.oms_complete = True
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        buffered, conn.oms_buffer = bytes(conn.oms_buffer), bytearray()
        conn.sock.setblocking(True)
        conn.init()
        if buffered and conn.parser is not None:
            conn.parser.unreader.unread(buffered)
        return super().handle(conn)

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """A request refused before its body arrived closes the connection: draining a
        body that may trickle in would hold the thread."""
        if conn.oms_state != WHOLE:
            return False
        return super()._keepalive_after(conn, keepalive)

    def _stop_reading(self, conn: Any) -> None:
        if self.reading.pop(conn.sock.fileno(), None) is not None:
            with suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)

    def _close(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Close connections that have not sent a whole request in time (408), or all of
        them when the worker stops: a slow client must not hold up a shutdown."""
        super().murder_pending()
        now = time.monotonic()
        late = [
            conn
            for conn in self.reading.values()
            if conn.oms_deadline <= now or not self.alive  # stopping: no new requests
        ]
        for conn in late:
            self._stop_reading(conn)
            if conn.oms_buffer.strip():
                with suppress(OSError):
                    util.write_nonblock(conn.sock, error_response(408))
            self._close(conn)

    def run(self) -> None:
        try:
            super().run()
        finally:
            for conn in list(self.reading.values()):
                self._stop_reading(conn)
                conn.close()
