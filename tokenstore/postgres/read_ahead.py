"""Reading ahead what a writer batch's token issuances will read: every robot's credential
confirmation in one statement, and every robot's role on every repository asked for in
another, both sent in the round trip that begins the batch's transaction, instead of two
statements per token, each a round trip to PostgreSQL and back.

The answers are kept on the batch's connection (``remember``) under the keys the shared
queries look them up by (``tokenstore.sql.access``: ``confirm_key``, ``role_key``) and
serve each job of the batch until the connection writes or the transaction ends. They are
read in the batch's transaction, after it took the write lock shared: no change that takes
a credential or a grant away (each holds the lock exclusively) can commit before the last
job did, so a job answered from them answers as if it had read itself.

Each statement here runs the shared one (``tokenstore.sql.access``: ``confirmation_sql``,
``role_rows_sql``) for every row of a list; tests/unit/test_read_ahead.py checks that their
answers agree.
"""

from collections.abc import Callable, Iterable, Sequence

from ..errors import NameInvalid
from ..models import AccessReads, Principal
from ..names import RepositoryName, parse_repository_name
from ..sql.access import confirm_key, confirmation_sql, role_key, role_rows_sql
from ..sql.connection import SqlDatabase
from .connection import PostgresDatabase

# Each is the shared statement run once per row of the batch's list (LATERAL, with OFFSET 0
# so that PostgreSQL plans it as the one-robot statement, index probes, and does not flatten
# it into joins it would plan for a hundred rows, as it guesses an unnest holds).
_CONFIRMATIONS = (
    "SELECT a.k, c.* FROM unnest(CAST(? AS INT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]))"
    " AS a(k, secret_id, robot_id)"
    f" CROSS JOIN LATERAL ({confirmation_sql('a.secret_id', 'a.robot_id')} OFFSET 0) c"
)
_ROLES = (
    "SELECT a.k, r.* FROM unnest(CAST(? AS INT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),"
    " CAST(? AS BIGINT[])) AS a(k, namespace, repository, namespace_id, robot_id)"
    " CROSS JOIN LATERAL ("
    + role_rows_sql(repository="a.repository", namespace_id="a.namespace_id", robot_id="a.robot_id",
                    namespace="a.namespace")
    + " OFFSET 0) r"
)


def read_ahead(db: PostgresDatabase, reads: Sequence[AccessReads | None], clock: Callable[[], float]) -> None:
    """Read, in two statements sent together on ``db`` (in its open transaction, whose
    BEGIN and lock go with them), the confirmations and roles ``reads`` name, and
    ``remember`` them. Only robots' reads are read ahead: the others' are read by their
    jobs as before. Raises as ``db.execute``."""
    robots: dict[Principal, set[str]] = {}
    for read in reads:
        if read is not None and _confirmable(read.principal):
            robots.setdefault(read.principal, set()).update(read.repositories)
    if not robots:
        return
    principals = list(robots)
    asked = [(principal, name) for principal, repositories in robots.items() for name in _names(repositories)]
    statements = [confirmations(principals, clock())]
    if asked:
        statements.append(roles(asked))
    answers = db.read_together(statements)
    _remember_by_index(db, [confirm_key(principal) for principal in principals], answers[0])
    if asked:
        _remember_by_index(db, [role_key(principal, name) for principal, name in asked], answers[1])


def confirmations(principals: Sequence[Principal], now: float) -> tuple[str, list]:
    """The statement reading whether each robot's credential still holds, as ``confirm``
    does: (SQL, parameters); its rows are led by the principal's index (none for a
    credential that no longer holds)."""
    return _CONFIRMATIONS, [list(range(len(principals))), [p.secret_id for p in principals],
                            [p.robot_id for p in principals], now, now]


def roles(asked: Sequence[tuple[Principal, RepositoryName]]) -> tuple[str, list]:
    """The statement reading each robot's role rows on each repository, as ``_role_rows``
    does: (SQL, parameters); its rows are led by the pair's index (none for a namespace that
    is not live)."""
    return _ROLES, [list(range(len(asked))), [name.namespace for _, name in asked], [name.name for _, name in asked],
                    [principal.namespace_id for principal, _ in asked], [principal.robot_id for principal, _ in asked]]


def _remember_by_index(db: SqlDatabase, keys: Sequence[tuple], rows: list[tuple]) -> None:
    """Remember under each of ``keys`` the rows of ``rows`` led by its index (the index
    dropped): none when there are none."""
    found: dict[int, list[tuple]] = {}
    for index, *row in rows:
        found.setdefault(index, []).append(tuple(row))
    for index, key in enumerate(keys):
        db.remember(key, found.get(index, []))


def _confirmable(principal: Principal) -> bool:
    return principal.is_robot and principal.secret_id is not None and principal.robot_id is not None


def _names(repositories: Iterable[str]) -> list[RepositoryName]:
    """The repository names among ``repositories`` that parse (``authorize`` reads nothing
    for the others)."""
    names = []
    for repository in repositories:
        try:
            names.append(parse_repository_name(repository))
        except NameInvalid:
            continue
    return names
