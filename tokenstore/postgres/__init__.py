"""The PostgreSQL backend's own pieces: its schema as versioned migrations (``schema``), what
its errors mean for a person (``errors``) and the per-thread connection the shared queries
run on (``connection``).

Every write transaction of every replica takes one advisory lock first, so writes are
serialized as SQLite serializes them.
"""
