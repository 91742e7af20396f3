"""SQLite's write-ahead log is copied into the database files by the upkeep, not by the
commits: a commit inside the writer turn never stops to do it, and the log still
does not grow without end."""

from __future__ import annotations

import sqlite3
import threading

from oms.app import start_upkeep_thread
from oms.db import sqlite_schema_files
from tests.polling import wait_until
from tests.support import Shop


def products_in_file(path: str) -> set[str]:
    """The product ids the database file itself holds, ignoring its write-ahead log."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as file:
        return {row[0] for row in file.execute("SELECT id FROM products")}


def test_committed_rows_reach_the_database_file_at_the_upkeeps_checkpoint(shop: Shop) -> None:
    runtime = shop.runtime
    products_file = sqlite_schema_files(runtime.database.url.database or "")["products"]
    product_ids = {shop.add_product()["productId"] for _ in range(5)}

    assert not product_ids & products_in_file(products_file)  # committed: in the log only
    assert len(shop.web.get("/api/v1/products").json["items"]) == 5

    stop = threading.Event()
    upkeep = start_upkeep_thread(runtime, stop)
    try:
        wait_until(lambda: product_ids <= products_in_file(products_file), timeout=10)
    finally:
        stop.set()
        upkeep.join(timeout=10)
