"""Writing and reading the audit log (what a row may hold: ``tokenstore.audit``)."""

import json

from ..audit import (
    DEFAULT_PAGE_SIZE,
    MAX_REFUSED_TEXT,
    REFUSAL_INTERVAL,
    AuditEvent,
    bounded,
    claimed_namespace,
    refusal_key,
)
from . import namespaces
from .base import QueryBase
from .connection import SqlDatabase

_EVENT_COLUMNS = "a.id, n.name, a.kind, a.performer, a.performer_kind, a.ip, a.repository, a.metadata, a.created"


def record_event(
    db: SqlDatabase, now: float, kind: str, namespace: str, *, performer: str | None = None,
    performer_kind: str | None = None, ip: str | None = None, repository: str | None = None,
    metadata: dict | None = None,
) -> bool:
    """Append a row created at ``now`` to the log of the live namespace ``namespace``.

    Returns True when a row was written, False when no live namespace has that name.
    """
    cursor = db.execute(
        "INSERT INTO audit_log (namespace_id, kind, performer, performer_kind, ip, repository, metadata, created)"
        " SELECT id, ?, ?, ?, ?, ?, ?, ? FROM namespaces WHERE name = ? AND deleted_at IS NULL",
        [
            kind, bounded(performer), performer_kind, bounded(ip), bounded(repository),
            json.dumps(bounded(metadata or {})), now, namespace,
        ],
    )
    return cursor.rowcount > 0


class AuditQueries(QueryBase):
    """Store methods that write and read the audit log."""

    def record_event(
        self, kind: str, namespace: str, *, performer: str | None = None, performer_kind: str | None = None,
        ip: str | None = None, repository: str | None = None, metadata: dict | None = None,
    ) -> bool:
        """Append a row to the log of the live namespace ``namespace``.

        ``performer_kind`` is "user" or "robot" (None when nobody signed in, e.g. the
        command line). Returns True when a row was written, False when no live namespace has
        that name (there is then nobody to show the row to).
        """
        return record_event(
            self.db, self.clock(), kind, namespace, performer=performer, performer_kind=performer_kind, ip=ip,
            repository=repository, metadata=metadata,
        )

    def record_refusal(
        self, kind: str, namespace: str, *, performer: str, ip: str | None, reason: str, metadata: dict,
        interval: float = REFUSAL_INTERVAL, performer_kind: str = "robot",
    ) -> bool:
        """Count a refused attempt by ``performer`` (a robot name as the client sent it, or a
        user's when ``performer_kind`` is "user") in the log of the live namespace ``namespace``.

        The first refusal of a (kind, performer, ip, reason) writes a row whose metadata is
        ``metadata`` with ``count`` 1; those within ``interval`` seconds of it add to its
        ``count`` instead of writing rows. Text is cut to MAX_REFUSED_TEXT characters. Must
        run in a transaction with the database's writer (``Offload.write``), so that two
        refusals never both write a first row. Returns False when no live namespace has that
        name (nothing is written), True otherwise.
        """
        performer, ip, reason = (bounded(value, max_text=MAX_REFUSED_TEXT) for value in (performer, ip, reason))
        key = refusal_key(kind, performer, ip, reason)
        now = self.clock()
        counted = self.db.execute(
            "SELECT a.id, a.metadata FROM audit_log a JOIN namespaces n ON n.id = a.namespace_id"
            " WHERE n.name = ? AND n.deleted_at IS NULL AND a.aggregate_key = ? AND a.created > ?"
            f" ORDER BY a.created DESC LIMIT 1{self.db.row_lock('a')}",
            [namespace, key, now - interval],
        ).fetchone()
        if counted is not None:
            # Read (its row locked where writers run side by side) and written in one
            # transaction, so no count is lost.
            row_id, stored = counted
            stored = json.loads(stored)
            stored["count"] = int(stored.get("count", 1)) + 1
            self.db.execute("UPDATE audit_log SET metadata = ? WHERE id = ?", [json.dumps(stored), row_id])
            return True
        metadata = bounded({**metadata, "reason": reason}, max_text=MAX_REFUSED_TEXT)
        cursor = self.db.execute(
            "INSERT INTO audit_log (namespace_id, kind, performer, performer_kind, ip, metadata, created, aggregate_key)"
            " SELECT id, ?, ?, ?, ?, ?, ?, ? FROM namespaces WHERE name = ? AND deleted_at IS NULL",
            [kind, performer, performer_kind, ip, json.dumps({**metadata, "count": 1}), now, key, namespace],
        )
        return cursor.rowcount > 0

    def record_robot_login(
        self, username: str, *, success: bool, reason: str | None = None, ip: str | None = None,
        user_agent: str | None = None, scopes: list[str] | None = None, access: list[dict] | None = None,
    ) -> None:
        """Log a robot's token request in the robot's namespace.

        A failure counts a ``login_failure`` (with ``reason``, e.g. "invalid" or "expired";
        ``record_refusal``); a success writes ``login_success`` and ``issue_token`` (the scopes asked for and the
        access granted), together. Nothing is written when the name is not of the form
        ``namespace+shortname`` or the namespace does not exist.
        """
        namespace = claimed_namespace(username)
        if namespace is None:
            return
        common = {"robot": username, "useragent": user_agent}
        if not success:
            self.record_refusal(
                "login_failure", namespace, performer=username, ip=ip, reason=reason or "invalid",
                metadata={**common, "kind": "robot"},
            )
            return
        # Both rows in one statement: atomic without a savepoint of its own, and one trip
        # through SQLite for what every token request writes; on PostgreSQL, sent with the
        # rest of the batch's rows at its commit.
        self.db.execute_at_commit(
            "INSERT INTO audit_log (namespace_id, kind, performer, performer_kind, ip, metadata, created)"
            " SELECT n.id, v.column1, ?, 'robot', ?, v.column2, ?"
            " FROM namespaces n, (VALUES ('login_success', ?), ('issue_token', ?)) v"
            " WHERE n.name = ? AND n.deleted_at IS NULL",
            [
                bounded(username), bounded(ip), self.clock(),
                json.dumps(bounded({**common, "kind": "robot"})),
                json.dumps(bounded({**common, "scopes": list(scopes or []), "access": list(access or [])})),
                namespace,
            ],
        )

    def list_events(
        self, namespace: str, *, start: float, end: float, kinds: list[str] | None = None,
        performer: str | None = None, before: tuple[float, int] | None = None, limit: int = DEFAULT_PAGE_SIZE,
    ) -> tuple[list[AuditEvent], tuple[float, int] | None]:
        """Return one page of ``namespace``'s log, newest first, and the cursor of the next page.

        Rows with ``start <= created < end``, of the ``kinds`` given (all when None) and by
        ``performer`` (anyone when None), older than the cursor ``before`` (as returned for
        the previous page). The returned cursor is None on the last page. Raises
        NamespaceNotFound.
        """
        ns = namespaces.get_namespace(self.db, namespace)
        sql = f"SELECT {_EVENT_COLUMNS} FROM audit_log a JOIN namespaces n ON n.id = a.namespace_id" \
              " WHERE a.namespace_id = ? AND a.created >= ? AND a.created < ?"
        params: list = [ns.id, start, end]
        if kinds:
            sql += f" AND a.kind IN ({', '.join('?' for _ in kinds)})"
            params.extend(kinds)
        if performer is not None:
            sql += " AND a.performer = ?"
            params.append(performer)
        if before is not None:
            sql += " AND (a.created < ? OR (a.created = ? AND a.id < ?))"
            params.extend([before[0], before[0], before[1]])
        sql += " ORDER BY a.created DESC, a.id DESC LIMIT ?"
        params.append(limit + 1)
        rows = self.db.execute(sql, params).fetchall()
        events = [_event(row) for row in rows[:limit]]
        cursor = (events[-1].created, events[-1].id) if len(rows) > limit else None
        return events, cursor


def _event(row) -> AuditEvent:
    id_, namespace, kind, performer, performer_kind, ip, repository, metadata, created = row
    return AuditEvent(id_, namespace, kind, performer, performer_kind, ip, repository, json.loads(metadata or "{}"), created)
