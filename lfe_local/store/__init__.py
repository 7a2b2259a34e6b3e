"""The only module that writes SQL: one DuckDB file per workspace."""

from .db import DB_NAME, SCHEMA_VERSION, SNAPSHOT_NAME, Store, StoreBusy, open_reader

__all__ = ["DB_NAME", "SCHEMA_VERSION", "SNAPSHOT_NAME", "Store", "StoreBusy", "open_reader"]
