"""The backup procedure of the README's "Running several replicas", as written: ``pg_dump
--format=custom`` of the shared database while it is in use, ``pg_restore --no-owner`` into an
empty database, and the store opened there works on: the same robots and secrets, grants and
audit rows, and new rows numbered after the restored ones."""

import shutil
import subprocess

import pytest

from tests.conftest import FAST_BCRYPT_COST
from tokenstore.postgres.store import PostgresStore

SOURCE, RESTORED = "regauth_backup_source", "regauth_backup_restored"
TIMEOUT = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian's postgresql-client)")
    return path


@pytest.fixture
def databases(postgres_server):
    for name in (SOURCE, RESTORED):
        postgres_server.drop_database(name)
    yield postgres_server.create_database(SOURCE), postgres_server.url(RESTORED)
    for name in (SOURCE, RESTORED):
        postgres_server.drop_database(name)


def test_pg_dump_and_pg_restore_carry_a_working_store(databases, postgres_server, tmp_path):
    source_url, restored_url = databases
    source = PostgresStore(source_url, bcrypt_cost=FAST_BCRYPT_COST)
    try:
        source.create_organization("acme")
        issued = source.create_robot("acme+ci")
        source.create_repository("acme/app")
        source.grant("acme+ci", "acme/app", "write")
        source.record_robot_login("acme+ci", success=True, ip="192.0.2.7", scopes=["repository:acme/app:pull"])
        dump = tmp_path / "regauth.dump"
        # While the source is open and in use, as on a serving replica.
        subprocess.run([_tool("pg_dump"), "--format=custom", f"--file={dump}", source_url],
                       check=True, capture_output=True, timeout=TIMEOUT)
    finally:
        source.close()

    postgres_server.create_database(RESTORED)
    subprocess.run([_tool("pg_restore"), "--no-owner", f"--dbname={restored_url}", str(dump)],
                   check=True, capture_output=True, timeout=TIMEOUT)

    restored = PostgresStore(restored_url, bcrypt_cost=FAST_BCRYPT_COST)
    try:
        assert restored.authenticate("acme+ci", issued.secret, record_use=False).username == "acme+ci"
        assert [(p.target, p.role.value) for p in restored.list_permissions("acme+ci")] == [("acme/app", "write")]
        rows, _ = restored.list_events("acme", start=0, end=4e9, kinds=["issue_token"])
        assert [row.ip for row in rows] == ["192.0.2.7"]
        # The identities were restored with the rows: new rows take new numbers.
        second = restored.create_robot("acme+deploy")
        assert restored.authenticate("acme+deploy", second.secret, record_use=False).username == "acme+deploy"
    finally:
        restored.close()
