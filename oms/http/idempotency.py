"""What makes two requests "the same" for an Idempotency-Key."""

from __future__ import annotations

import hashlib
import json

from flask import request


def request_fingerprint() -> str:
    """Identifies this request's path and JSON body, so a reused Idempotency-Key with
    another body is caught."""
    canonical = json.dumps(request.get_json(silent=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.path}\n{canonical}".encode()).hexdigest()
