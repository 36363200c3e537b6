"""Web UI sessions in the model: stored hashed, ended by sign-out, expiry, idleness and the
user's deletion."""

from tokenstore.ui_sessions import LAST_SEEN_INTERVAL, SESSION_IDLE_TIMEOUT, SESSION_LIFETIME, session_hash

from .browsing import PASSWORD


def test_session_is_found_by_its_id_and_stored_only_hashed(store):
    user = store.create_user("alice", PASSWORD)
    session = store.create_ui_session(user.id)
    assert len(session.session_id) >= 43
    assert store.get_ui_session(session.session_id).username == "alice"
    stored = store.db.execute("SELECT hash FROM ui_sessions").fetchall()
    assert stored == [(session_hash(session.session_id),)]
    assert session.session_id not in repr(session)
    assert store.get_ui_session(session.session_id + "x") is None
    assert store.get_ui_session("") is None


def test_ending_a_session_ends_only_it(store):
    user = store.create_user("alice", PASSWORD)
    first, second = store.create_ui_session(user.id), store.create_ui_session(user.id)
    store.end_ui_session(first.session_id)
    assert store.get_ui_session(first.session_id) is None
    assert store.get_ui_session(second.session_id) is not None
    assert store.end_user_ui_sessions(user.id) == 1
    assert store.get_ui_session(second.session_id) is None


def test_idle_sessions_end_and_use_keeps_them_alive(store, clock):
    user = store.create_user("alice", PASSWORD)
    session = store.create_ui_session(user.id)
    for _ in range(3):
        clock.advance(SESSION_IDLE_TIMEOUT - LAST_SEEN_INTERVAL)
        assert store.get_ui_session(session.session_id) is not None
    clock.advance(SESSION_IDLE_TIMEOUT)
    assert store.get_ui_session(session.session_id) is None
    assert store.purge_ui_sessions() == 1


def test_sessions_end_at_their_lifetime_however_busy(store, clock):
    user = store.create_user("alice", PASSWORD)
    session = store.create_ui_session(user.id)
    while clock.now < session.created + SESSION_LIFETIME - LAST_SEEN_INTERVAL:
        assert store.get_ui_session(session.session_id) is not None
        clock.advance(LAST_SEEN_INTERVAL * 30)
    clock.now = session.created + SESSION_LIFETIME
    assert store.get_ui_session(session.session_id) is None


def test_deleting_the_user_ends_their_sessions(store):
    user = store.create_user("alice", PASSWORD)
    session = store.create_ui_session(user.id)
    store.delete_user("alice")
    assert store.get_ui_session(session.session_id) is None
    store.collect_garbage(retention=0)
    assert store.db.execute("SELECT count(*) FROM ui_sessions").fetchone() == (0,)
