"""The garbage collector's queries: removing marked and lapsed rows (what and when:
``tokenstore.collector``) with everything that refers to them.

What "refers to" means is read from the schema's foreign keys at each run, not listed here:
a table added by a later migration (federation settings, refresh tokens, ...) is collected
as soon as it references robots, namespaces or any other collected table. Each batch is one
transaction, so a run can stop anywhere without leaving half-deleted rows.
"""

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager

from ..collector import DEFAULT_BATCH_SIZE, RETENTION
from ..registry_activity import SEEN_RETENTION as REGISTRY_EVENT_RETENTION
from ..signin_throttle import WINDOW as SIGNIN_FAILURE_WINDOW
from ..ui_sessions import SESSION_IDLE_TIMEOUT
from .base import QueryBase

# A pause after each full batch, so that writers waiting for the lock get their turn before
# the next batch (the collector would otherwise take it straight back).
BATCH_PAUSE = 0.002
# SQLite's default bound on host parameters is 32766; stay far below it.
_CHUNK = 500
_MAX_DEPTH = 8
# The column that names a row, for the tables not keyed by an integer ``id``.
_KEY_COLUMNS = {"registry_events_seen": "event_id"}


def _key(table: str) -> str:
    return _quote(_KEY_COLUMNS.get(table, "id"))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _chunks(ids: list[int]):
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


class CollectorQueries(QueryBase):
    """``collect_garbage``.

    The backend provides ``_foreign_keys()`` (the schema's references, read at each run),
    ``_collector_run()`` (held for a whole run: one run at a time across processes) and
    ``_collector_turn()`` (held around each batch's transaction)."""

    def collect_garbage(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, retention: float = RETENTION, audit_retention: float | None = None,
    ) -> dict[str, int]:
        """Hard-delete deleted namespaces, users, robots and repositories, with every row that
        refers to them; secrets, API tokens and app tokens revoked or expired ``retention`` seconds ago;
        expired keyless credentials; expired or idle web UI sessions; failed sign-ins older
        than the sign-in throttle's window; audit log rows older than ``audit_retention``
        seconds (None keeps them all).

        Returns the number of rows removed per table (tables with none are left out); an
        empty dict when another process's run is under way.
        """
        with self._collector_run() as running:
            if not running:
                return {}
            return self._collect(batch_size, retention, audit_retention)

    # -- what the backend provides ------------------------------------------------------

    def _foreign_keys(self) -> Iterator[tuple[str, str, str, str | None]]:
        """Yield (table, column, parent table, parent column) for each foreign key."""
        raise NotImplementedError

    def _collector_run(self) -> AbstractContextManager[bool]:
        """Return a context manager held for a whole run, yielding False when another
        process's run is under way."""
        raise NotImplementedError

    def _collector_turn(self) -> AbstractContextManager[None]:
        """Return a context manager held around each batch's transaction."""
        raise NotImplementedError

    # -- the run ------------------------------------------------------------------------

    def _collect(self, batch_size: int, retention: float, audit_retention: float | None) -> dict[str, int]:
        counts: Counter = Counter()
        dependents = self._dependents()
        now = self.clock()
        cutoff = now - retention
        steps = [
            ("namespaces", "deleted_at IS NOT NULL", []),
            ("users", "deleted_at IS NOT NULL", []),
            ("robots", "deleted_at IS NOT NULL", []),
            ("repositories", "deleted_at IS NOT NULL", []),
            ("robot_secrets", "(revoked_at IS NOT NULL AND revoked_at <= ?) OR (expires_at IS NOT NULL AND expires_at <= ?)",
             [cutoff, cutoff]),
            ("api_tokens", "(revoked_at IS NOT NULL AND revoked_at <= ?) OR (expires_at IS NOT NULL AND expires_at <= ?)",
             [cutoff, cutoff]),
            ("app_tokens", "(revoked_at IS NOT NULL AND revoked_at <= ?) OR (expires_at IS NOT NULL AND expires_at <= ?)",
             [cutoff, cutoff]),
            # Refused from the moment they lapse; nothing to keep them for.
            ("federated_credentials", "expires_at <= ?", [now]),
            ("ui_sessions", "expires_at <= ? OR last_seen <= ?", [now, now - SESSION_IDLE_TIMEOUT]),
            ("signin_failures", "failed_at <= ?", [now - SIGNIN_FAILURE_WINDOW]),
            ("registry_events_seen", "received <= ?", [now - REGISTRY_EVENT_RETENTION]),
        ]
        if audit_retention is not None:
            audit_cutoff = now - audit_retention
            boundary = self._first_audit_row_after(audit_cutoff)
            steps.append(("audit_log", "id < ? AND created <= ?", [boundary, audit_cutoff]))
        for table, where, params in steps:
            while True:
                with self._collector_turn(), self.db.atomic():
                    ids = [row[0] for row in self.db.execute(
                        f"SELECT {_key(table)} FROM {_quote(table)} WHERE {where} LIMIT ?", [*params, batch_size]
                    )]
                    if ids:
                        self._cascade_delete(table, ids, dependents, counts, 0)
                if len(ids) < batch_size:
                    break
                time.sleep(BATCH_PAUSE)
        return {table: count for table, count in counts.items() if count}

    def _first_audit_row_after(self, cutoff: float) -> int:
        """Return the id of the oldest audit row created after ``cutoff`` (one past the last
        row when there is none).

        Rows are appended in time order, so the ones to remove lie below it. ``created`` has
        no index of its own (it would be one more index to update on every token's audit
        write); read in id order, this stops at the first newer row, where a search by
        time would read the whole table on every run. A row written out of order, a moment
        older than one before it, is left for the next run.
        """
        row = self.db.execute("SELECT id FROM audit_log WHERE created > ? ORDER BY id LIMIT 1", [cutoff]).fetchone()
        if row is not None:
            return row[0]
        return (self.db.execute("SELECT max(id) FROM audit_log").fetchone()[0] or 0) + 1

    def _dependents(self) -> dict[str, list[tuple[str, str]]]:
        """Map each table to the (table, column) pairs whose foreign keys point at its rows."""
        dependents: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for table, column, parent, parent_column in self._foreign_keys():
            # Rows are followed by their ``id``; a reference to another column cannot be.
            if parent_column in (None, "id") and parent != table:
                dependents[parent].append((table, column))
        return dependents

    def _cascade_delete(self, table: str, ids: list[int], dependents, counts: Counter, depth: int) -> None:
        """Delete rows ``ids`` of ``table`` after the rows that refer to them, depth first."""
        if depth > _MAX_DEPTH:
            raise RuntimeError(f"foreign keys nest deeper than {_MAX_DEPTH} levels below {table}")
        for child, column in dependents.get(table, ()):
            for chunk in _chunks(ids):
                marks = ", ".join("?" for _ in chunk)
                child_ids = [row[0] for row in self.db.execute(
                    f"SELECT {_key(child)} FROM {_quote(child)} WHERE {_quote(column)} IN ({marks})", chunk
                )]
                if child_ids:
                    self._cascade_delete(child, child_ids, dependents, counts, depth + 1)
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            counts[table] += self.db.execute(f"DELETE FROM {_quote(table)} WHERE {_key(table)} IN ({marks})", chunk).rowcount
