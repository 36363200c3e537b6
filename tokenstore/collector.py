"""The garbage collector's rules: what the rows that deletions and rotations leave behind
are kept for, and how long.

Deleting a namespace, user, robot or repository only marks its row (``deleted_at``), which
stops every credential and grant at once; the collector (``collect_garbage``) removes the
marked rows later with everything that refers to them. Old secrets and API tokens (revoked
or expired longer than RETENTION ago) go too, and so does what lapses on its own: keyless
credentials past their hour, web UI sessions past their lifetime or idle timeout, failed
sign-ins older than the throttle's window, and registry event ids kept against retried
deliveries. Given a retention for it, audit log rows older than that go as well: every robot
token adds two rows (some 400 bytes), so under a CI fleet the log is by far the
fastest-growing table.
"""

# Revoked or expired secrets and API tokens are kept this long (for rotation audits), then removed.
RETENTION = 7 * 86400
# Rows removed per transaction: a run can stop anywhere without leaving half-deleted rows.
DEFAULT_BATCH_SIZE = 500
