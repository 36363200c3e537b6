"""What psycopg's errors mean for the store: PostgreSQL out of reach or unable to answer (a
cause in words for a person), busy with another writer, or a unique rule broken.

Errors from connecting carry no SQLSTATE (libpq reports them as text), so those are told
apart by libpq's and the server's wording.
"""

import psycopg
from psycopg import errors as pg_errors

UNREACHABLE_CAUSE = "PostgreSQL cannot be reached"
SHUTTING_DOWN_CAUSE = "PostgreSQL is shutting down"
STARTING_CAUSE = "PostgreSQL is starting up"
TOO_MANY_CONNECTIONS_CAUSE = "PostgreSQL has too many connections"
DISK_FULL_CAUSE = "the database's disk is full"
READ_ONLY_CAUSE = "the database is read-only"
BUSY_CAUSE = "the database is busy with another writer"

# By SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_CAUSES_BY_SQLSTATE = {
    "57P01": SHUTTING_DOWN_CAUSE,  # admin_shutdown: a fast or immediate shutdown ended the session
    "57P02": SHUTTING_DOWN_CAUSE,  # crash_shutdown: another backend crashed, the server restarts
    "57P03": STARTING_CAUSE,  # cannot_connect_now: starting up, recovering or shutting down
    "57P04": UNREACHABLE_CAUSE,  # database_dropped
    "57P05": UNREACHABLE_CAUSE,  # idle_session_timeout
    "53300": TOO_MANY_CONNECTIONS_CAUSE,  # too_many_connections
    "53100": DISK_FULL_CAUSE,  # disk_full
    "53200": "PostgreSQL is out of memory",  # out_of_memory
    "53000": "PostgreSQL is out of resources",  # insufficient_resources
    "58030": "the database's disk reported an I/O error",  # io_error
    "XX001": "the database is corrupt",  # data_corrupted
    "XX002": "the database is corrupt",  # index_corrupted
    "25006": READ_ONLY_CAUSE,  # read_only_sql_transaction: a standby, or default_transaction_read_only
    "57014": "PostgreSQL canceled the statement",  # query_canceled, by an operator (timeouts: busy)
}
# A lock not granted in time (lock_timeout, NOWAIT), or a transaction that lost to another
# one; trying again later may succeed.
_BUSY_SQLSTATES = {"55P03", "40001", "40P01"}  # lock_not_available, serialization_failure, deadlock_detected
_QUERY_CANCELED = "57014"

# The server's and libpq's words for failures reported without a SQLSTATE (while connecting),
# checked in order.
_CAUSES_BY_MESSAGE = (
    ("the database system is starting up", STARTING_CAUSE),
    ("the database system is not yet accepting connections", STARTING_CAUSE),
    ("the database system is in recovery mode", STARTING_CAUSE),
    ("the database system is shutting down", SHUTTING_DOWN_CAUSE),
    ("terminating connection due to administrator command", SHUTTING_DOWN_CAUSE),
    ("too many clients already", TOO_MANY_CONNECTIONS_CAUSE),
    ("too many connections", TOO_MANY_CONNECTIONS_CAUSE),
    ("remaining connection slots are reserved", TOO_MANY_CONNECTIONS_CAUSE),
)


def is_busy(exc: BaseException) -> bool:
    """Return True when ``exc`` says a lock was not granted in time (lock_timeout, 55P03), a
    statement was canceled by a timeout, or the transaction lost a serialization or deadlock
    race: the caller raises StoreBusy, and trying again later may succeed."""
    if not isinstance(exc, psycopg.Error):
        return False
    if exc.sqlstate in _BUSY_SQLSTATES:
        return True
    # lock_timeout reports 55P03; a statement_timeout hit while waiting reports 57014.
    return exc.sqlstate == _QUERY_CANCELED and "timeout" in (exc.diag.message_primary or "")


def is_unique_violation(exc: BaseException) -> bool:
    """Return True when ``exc`` is a unique rule broken (23505): the caller raises DuplicateRow."""
    return isinstance(exc, pg_errors.UniqueViolation)


def is_connection_failure(exc: BaseException) -> bool:
    """Return True when ``exc`` means the connection it came from is gone or unusable: it could
    not be made, was lost, was ended by the server, or was closed."""
    if isinstance(exc, psycopg.InterfaceError):
        return True  # "the connection is closed", "the connection is lost"
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))


def unavailable_cause(exc: BaseException) -> str | None:
    """Return why PostgreSQL cannot answer, in words for a person ("PostgreSQL cannot be
    reached"), when ``exc`` is such a failure: no connection or a lost one, the server
    shutting down or starting, too many connections, disk full, out of memory, an I/O error,
    corruption, a read-only database, a statement canceled by an operator; BUSY_CAUSE when it
    is busy (see ``is_busy``).

    Returns None for anything else: a bug, or a rule of the schema broken.
    """
    if not isinstance(exc, psycopg.Error):
        return None
    if is_busy(exc):
        return BUSY_CAUSE
    if exc.sqlstate in _CAUSES_BY_SQLSTATE:
        return _CAUSES_BY_SQLSTATE[exc.sqlstate]
    if is_connection_failure(exc):
        text = str(exc).lower()
        for words, cause in _CAUSES_BY_MESSAGE:
            if words in text:
                return cause
        return UNREACHABLE_CAUSE
    return None
