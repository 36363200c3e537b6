"""Writing what the registry reports it did into the audit log, each event once."""

from ..registry_activity import RepositoryEvent, audit_fields
from . import audit
from .base import QueryBase


class RegistryActivityQueries(QueryBase):
    """``record_repository_events``."""

    def record_repository_events(self, events: list[RepositoryEvent]) -> int:
        """Write one audit row per event not written before; returns how many were written.

        An event whose namespace does not exist (any more) is dropped, as is one seen before.
        """
        now = self.clock()
        written = 0
        with self.db.atomic():
            for event in events:
                fresh = self.db.execute(
                    "INSERT INTO registry_events_seen (event_id, received) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [event.id, now],
                ).rowcount
                if not fresh:
                    continue
                kind, namespace, fields = audit_fields(event)
                written += audit.record_event(self.db, now, kind, namespace, **fields)
        return written
