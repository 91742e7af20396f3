"""When the serving worker hands a buffered request to a thread (oms.http.serving)."""

from __future__ import annotations

import json

import pytest

from oms.http.serving import INCOMPLETE, REFUSABLE, WHOLE, error_response, request_state

LIMIT = 100
HEAD = b"POST /x HTTP/1.1\r\nHost: a\r\n"


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (b"", INCOMPLETE),
        (b"GET /healthz HTTP/1.1\r\nHost: a\r\n", INCOMPLETE),
        (b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", WHOLE),
        (HEAD + b"Content-Length: 5\r\n\r\nabc", INCOMPLETE),
        (HEAD + b"Content-Length: 5\r\n\r\nabcde", WHOLE),
        (HEAD + b"content-length: 5\r\n\r\nabcdefg", WHOLE),  # pipelined bytes after it
        (HEAD + b"Content-Length: 101\r\n\r\n", REFUSABLE),  # 413 without the body
        (HEAD + b"Content-Length: nope\r\n\r\n", REFUSABLE),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", INCOMPLETE),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", WHOLE),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n", WHOLE),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n65\r\n", REFUSABLE),  # 101 > limit
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", REFUSABLE),
        (b"GET /" + b"a" * 70_000, REFUSABLE),  # a head past any limit: the parser refuses
    ],
)
def test_request_state(data: bytes, state: str) -> None:
    assert request_state(data, LIMIT) == state


def test_error_responses_use_the_one_json_shape() -> None:
    head, _, body = error_response(431).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Content-Type: application/json" in head
    assert b"X-Content-Type-Options: nosniff" in head
    assert json.loads(body) == {
        "code": 431,
        "status": "Request Header Fields Too Large",
        "message": "The request headers are too large.",
    }
