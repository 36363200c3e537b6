"""``tokenstore.opening.location_shown``: a database location for people, its passwords hidden;
the one masking that the copy, ``PostgresStore.location`` and ``Config.database_shown`` use."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import Config
from tokenstore.opening import location_shown


@pytest.mark.parametrize(("location", "shown"), [
    # In the user part.
    ("postgresql://regauth:hunter2@db.example:5432/regauth", "postgresql://regauth:***@db.example:5432/regauth"),
    ("postgresql://u:p%40ss@db:5432/x", "postgresql://u:***@db:5432/x"),
    ("postgres://:pw@db/x", "postgres://:***@db/x"),
    ("postgresql://u:pw@h1:5432,h2:5433/x", "postgresql://u:***@h1:5432,h2:5433/x"),
    # In the query string, first or later, and the client key's passphrase too.
    ("postgresql://db/x?password=pw", "postgresql://db/x?password=***"),
    ("postgres://db/x?sslmode=require&password=pw", "postgres://db/x?sslmode=require&password=***"),
    ("postgresql://db/x?password=pw&sslmode=require", "postgresql://db/x?password=***&sslmode=require"),
    ("postgresql://db/x?sslpassword=key-pw", "postgresql://db/x?sslpassword=***"),
    # Both.
    ("postgresql://u:one@db/x?sslmode=require&password=two", "postgresql://u:***@db/x?sslmode=require&password=***"),
    # Unencoded characters in a password: its tail is hidden too.
    ("postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"),
    ("postgresql://u:pa/ss?w#rd@db/x", "postgresql://u:***@db/x"),
])
def test_passwords_are_hidden_and_the_rest_shown(location, shown):
    assert location_shown(location) == shown


@pytest.mark.parametrize("url", [
    "postgresql://u@db/x",
    "postgresql://db:5432/x",
    "postgresql://u@db:5432/x?application_name=me@host&passfile=/p",
    "postgresql:///x?host=/run/postgresql",
])
def test_a_url_without_a_password_is_shown_as_it_is(url):
    """A user without a password, a port, a path or query naming no password."""
    assert location_shown(url) == url


@pytest.mark.parametrize("path", ["/var/lib/regauth/regauth.db", "data/user:pw@host.db", "relative.db"])
def test_a_file_path_is_shown_as_it_is(path):
    assert location_shown(path) == path
    assert location_shown(Path(path)) == path


PASSWORD = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=24).map(
    lambda text: "Zq!" + text  # a marker no other part of the URL holds
)


@settings(max_examples=200, deadline=None)
@given(password=PASSWORD, host=st.sampled_from(["db.example", "127.0.0.1:5432", "h1,h2:5433"]))
def test_a_password_in_the_user_part_never_shows(password, host):
    shown = location_shown(f"postgresql://regauth:{password}@{host}/regauth?sslmode=require")
    assert "Zq!" not in shown
    assert shown.endswith(f":***@{host}/regauth?sslmode=require")


@settings(max_examples=200, deadline=None)
@given(password=PASSWORD.filter(lambda text: "&" not in text), first=st.booleans())
def test_a_password_in_the_query_never_shows(password, first):
    """Up to the next ``&``, where libpq ends the value too."""
    query = f"password={password}&sslmode=require" if first else f"sslmode=require&password={password}"
    assert "Zq!" not in location_shown(f"postgresql://db.example/regauth?{query}")


def test_the_configured_database_is_shown_the_same_way(tmp_path):
    url = "postgresql://regauth:s3cret@127.0.0.1:5432/regauth?password=again"
    config = Config.load({"data_dir": str(tmp_path), "database": url}, environ={})
    shown = "postgresql://regauth:***@127.0.0.1:5432/regauth?password=***"
    assert config.database_shown == location_shown(url) == shown
    sqlite = Config.load({"data_dir": str(tmp_path)}, environ={})
    assert sqlite.database_shown == str(tmp_path.resolve() / "regauth.db")
