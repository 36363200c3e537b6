"""The SQL both backends run: the queries behind the store's interface, written in the
subset of SQL that SQLite (3.35 or later) and PostgreSQL share, with ``?`` placeholders.

One module per area (namespaces, robots, secret_lifecycle, accounts, audit ...), each with
the plain functions other areas call (connection and time passed in) and a class of store
methods on ``base.QueryBase``; ``store.SqlStore`` gathers them. A backend hands the queries
a ``SqlDatabase`` (``connection.py``) per thread and provides the hooks the base classes
name; a statement whose dialects differ is best kept to that shared subset, since
overriding a store method does not change the areas' plain calls to its function.
"""
