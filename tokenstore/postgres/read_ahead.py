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

Each statement here is the set form of one in ``tokenstore.sql.access`` (``confirm``,
``_role_rows``): change both alike. tests/unit/test_read_ahead.py checks that they agree.
"""

from collections.abc import Callable, Iterable, Sequence

from ..errors import NameInvalid
from ..models import AccessReads, Principal
from ..names import RepositoryName, parse_repository_name
from ..sql.access import confirm_key, role_key
from ..sql.connection import SqlDatabase
from ..sql.secret_lifecycle import live_secret
from .connection import PostgresDatabase

_CONFIRMATIONS = (
    "SELECT s.id, r.id, r.last_accessed, s.last_used FROM robot_secrets s JOIN robots r ON r.id = s.robot_id"
    " JOIN namespaces n ON n.id = r.namespace_id"
    " WHERE s.id = ANY(CAST(? AS BIGINT[])) AND r.deleted_at IS NULL AND r.disabled_at IS NULL"
    f" AND n.deleted_at IS NULL AND {live_secret()}"
)

_ROLES = (
    "SELECT a.k, p.id, p.visibility, g.role, n.id, t.role, tp.role"
    " FROM unnest(CAST(? AS INT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]))"
    " AS a(k, namespace, repository, namespace_id, robot_id)"
    " JOIN namespaces n ON n.name = a.namespace AND n.deleted_at IS NULL"
    " LEFT JOIN repositories p ON p.namespace_id = n.id AND p.name = a.repository AND p.deleted_at IS NULL"
    " LEFT JOIN permissions g ON n.id = a.namespace_id AND g.robot_id = a.robot_id"
    " AND (g.repository_id IS NULL OR g.repository_id = p.id)"
    " LEFT JOIN team_members m ON n.id = a.namespace_id AND m.robot_id = a.robot_id"
    " LEFT JOIN teams t ON t.id = m.team_id AND t.namespace_id = n.id"
    " LEFT JOIN team_permissions tp ON tp.team_id = t.id AND tp.repository_id = p.id"
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
    keys = list(dict.fromkeys(role_key(principal, name) for principal, name in asked))
    if keys:
        statements.append(roles(keys))
    answers = db.read_together(statements)
    remember_confirmations(db, principals, answers[0])
    if keys:
        remember_roles(db, keys, answers[1])


def confirmations(principals: Sequence[Principal], now: float) -> tuple[str, list]:
    """The statement reading whether each robot's credential still holds, as ``confirm``
    does: (SQL, parameters)."""
    return _CONFIRMATIONS, [sorted({p.secret_id for p in principals}), now, now]


def remember_confirmations(db: SqlDatabase, principals: Sequence[Principal], rows: list[tuple]) -> None:
    """Remember each robot's confirmation from ``rows`` (``confirmations``' answer): one row,
    or none when its credential no longer holds."""
    found = {secret_id: (robot_id, (last_accessed, last_used)) for secret_id, robot_id, last_accessed, last_used in rows}
    for principal in principals:
        robot_id, row = found.get(principal.secret_id, (None, None))
        db.remember(confirm_key(principal), [row] if robot_id == principal.robot_id else [])


def roles(keys: Sequence[tuple]) -> tuple[str, list]:
    """The statement reading each robot's role rows on each repository (``role_key``s), as
    ``_role_rows`` does: (SQL, parameters)."""
    # role_key is ("role", namespace id, robot id, namespace, repository).
    return _ROLES, [list(range(len(keys))), [k[3] for k in keys], [k[4] for k in keys], [k[1] for k in keys],
                    [k[2] for k in keys]]


def remember_roles(db: SqlDatabase, keys: Sequence[tuple], rows: list[tuple]) -> None:
    """Remember the role rows of each key from ``rows`` (``roles``' answer, each row led by
    its key's index): none for a namespace that is not live."""
    found: dict[int, list[tuple]] = {}
    for k, *row in rows:
        found.setdefault(k, []).append(tuple(row))
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
