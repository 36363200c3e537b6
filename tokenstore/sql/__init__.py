"""The SQL both backends run: the queries behind the store's interface, written in the
subset of SQL that SQLite (3.35 or later) and PostgreSQL share, with ``?`` placeholders.

A backend hands the queries a ``SqlDatabase`` (``connection.py``) per thread, and overrides
the few queries whose dialects differ.
"""
