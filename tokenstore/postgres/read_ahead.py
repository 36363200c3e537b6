"""Reading ahead what a writer batch's token issuances will read: every robot's credential
confirmation in one statement, and every robot's role on every repository asked for in
another (for refresh tokens: every redemption, and the roles of the robots they stand for,
in two more), all sent in the round trip that begins the batch's transaction, instead of
two statements per token, each a round trip to PostgreSQL and back.

The answers are kept on the batch's connection (``remember``) under the keys the shared
queries look them up by (``tokenstore.sql.access``: ``confirm_key``, ``role_key``) and
serve each job of the batch until the connection writes or the transaction ends. They are
read in the batch's transaction, after it took the write lock shared: no change that takes
a credential or a grant away (each holds the lock exclusively) can commit before the last
job did, so a job answered from them answers as if it had read itself.

Each statement here runs the shared one (``confirmation_sql``, ``role_rows_sql``,
``redemption_sql``) for every row of a list; tests/unit/test_read_ahead.py checks that their
answers agree.
"""

from collections.abc import Callable, Iterable, Sequence

from ..errors import NameInvalid
from ..federation import credential_hash
from ..models import AccessReads, Principal
from ..names import RepositoryName, parse_repository_name
from ..refresh_tokens import has_refresh_token_shape
from ..sql.access import confirm_key, confirmation_sql, robot_role_key, role_key, role_rows_sql
from ..sql.refresh_tokens import redemption_key, redemption_sql
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
_REDEMPTIONS = (
    "SELECT a.k, x.* FROM unnest(CAST(? AS INT[]), CAST(? AS TEXT[])) AS a(k, token_hash)"
    f" CROSS JOIN LATERAL ({redemption_sql('a.token_hash')} OFFSET 0) x"
)
# The roles of the robot each refresh token names, on the repositories asked with it: the
# robot looked up by the token's hash as the redemption does, whatever state it is in (the
# redemption decides that), then the role statement as above.
_REDEEMED_ROLES = (
    "SELECT a.k, x.namespace_id, x.robot_id, r.* FROM unnest(CAST(? AS INT[]), CAST(? AS TEXT[]),"
    " CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS a(k, token_hash, namespace, repository)"
    " CROSS JOIN LATERAL (SELECT b.namespace_id, b.id AS robot_id FROM refresh_tokens t"
    " JOIN robots b ON b.id = t.robot_id WHERE t.hash = a.token_hash OFFSET 0) x"
    " CROSS JOIN LATERAL ("
    + role_rows_sql(repository="a.repository", namespace_id="x.namespace_id", robot_id="x.robot_id",
                    namespace="a.namespace")
    + " OFFSET 0) r"
)


def read_ahead(db: PostgresDatabase, reads: Sequence[AccessReads | None], clock: Callable[[], float]) -> None:
    """Read, in up to four statements sent together on ``db`` (in its open transaction,
    whose BEGIN and lock go with them), the confirmations, redemptions and roles ``reads``
    name, and ``remember`` them. Only robots' reads are read ahead (a robot's credential or
    a refresh token): the others' are read by their jobs as before. Raises as
    ``db.execute``."""
    robots: dict[Principal, set[str]] = {}
    redeemed: dict[str, set[str]] = {}  # token hash: repositories
    for read in reads:
        if read is None:
            continue
        if read.principal is None:
            if has_refresh_token_shape(read.refresh_token):
                redeemed.setdefault(credential_hash(read.refresh_token), set()).update(read.repositories)
        elif _confirmable(read.principal):
            robots.setdefault(read.principal, set()).update(read.repositories)
    now = clock()
    principals = list(robots)
    asked = [(principal, name) for principal, repositories in robots.items() for name in _names(repositories)]
    hashes = list(redeemed)
    asked_redeeming = [(token_hash, name) for token_hash, repositories in redeemed.items()
                       for name in _names(repositories)]
    # Each list with its statement and what remembers its answer; an empty list reads nothing.
    reading = [(listed, statement, remember) for listed, statement, remember in (
        (principals, confirmations(principals, now), _remember_confirmations),
        (asked, roles(asked), _remember_roles),
        (hashes, redemptions(hashes, now), _remember_redemptions),
        (asked_redeeming, redeemed_roles(asked_redeeming), _remember_redeemed_roles),
    ) if listed]
    if not reading:
        return
    answers = db.read_together([statement for _, statement, _ in reading])
    for (listed, _, remember), rows in zip(reading, answers):
        remember(db, listed, rows)


def _remember_confirmations(db: SqlDatabase, principals: Sequence[Principal], rows: list[tuple]) -> None:
    _remember_by_index(db, [confirm_key(principal) for principal in principals], rows)


def _remember_roles(db: SqlDatabase, asked: Sequence[tuple[Principal, RepositoryName]], rows: list[tuple]) -> None:
    _remember_by_index(db, [role_key(principal, name) for principal, name in asked], rows)


def _remember_redemptions(db: SqlDatabase, hashes: Sequence[str], rows: list[tuple]) -> None:
    _remember_by_index(db, [redemption_key(token_hash) for token_hash in hashes], rows)


def _remember_redeemed_roles(db: SqlDatabase, asked: Sequence[tuple[str, RepositoryName]], rows: list[tuple]) -> None:
    """Remember each robot's role rows under the key its Principal will look them up by,
    built from the robot the token names (a token that names none, or a namespace that is
    not live, leaves nothing: its job reads for itself, if it gets that far)."""
    found: dict[tuple, list[tuple]] = {}
    read_by: dict[tuple, int] = {}  # two tokens of one robot asking for one repository: one answer
    for index, namespace_id, robot_id, *row in rows:
        key = robot_role_key(namespace_id, robot_id, asked[index][1])
        if read_by.setdefault(key, index) == index:
            found.setdefault(key, []).append(tuple(row))
    for key, role_rows in found.items():
        db.remember(key, role_rows)


def redemptions(hashes: Sequence[str], now: float) -> tuple[str, list]:
    """The statement redeeming each refresh token (by its hash) as ``redeem_refresh_token``
    reads: (SQL, parameters); its rows are led by the hash's index (none for a token that
    does not redeem)."""
    return _REDEMPTIONS, [list(range(len(hashes))), list(hashes), now, now]


def redeemed_roles(asked: Sequence[tuple[str, RepositoryName]]) -> tuple[str, list]:
    """The statement reading the role rows, on each repository, of the robot each refresh
    token (by its hash) names: (SQL, parameters); its rows are led by the pair's index, then
    the robot's namespace id and id."""
    return _REDEEMED_ROLES, [list(range(len(asked))), [token_hash for token_hash, _ in asked],
                             [name.namespace for _, name in asked], [name.name for _, name in asked]]


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
