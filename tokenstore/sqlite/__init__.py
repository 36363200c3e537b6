"""The SQLite backend: one file, WAL mode, for one host (``store.SqliteStore``)."""
