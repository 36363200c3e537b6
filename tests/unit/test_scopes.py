"""The scope grammar: type[(class)]:name:actions, with distribution's repository name rule."""

import pytest

from gateway.token.scopes import MAX_SCOPES, Scope, ScopeError, ScopeNameInvalid, parse_scope, parse_scopes
from tokenstore import Resource


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repository:myorg/app:pull", Scope(Resource("repository", "myorg/app"), ("pull",))),
        ("repository:myorg/app:pull,push", Scope(Resource("repository", "myorg/app"), ("pull", "push"))),
        ("repository:myorg/team/app:push,pull", Scope(Resource("repository", "myorg/team/app"), ("push", "pull"))),
        ("repository:a/b/c:*", Scope(Resource("repository", "a/b/c"), ("*",))),
        ("repository:alpine:pull", Scope(Resource("repository", "alpine"), ("pull",))),
        ("repository:my-org/app__x.y:pull", Scope(Resource("repository", "my-org/app__x.y"), ("pull",))),
        ("repository:a/" + "b" * 253 + ":pull", Scope(Resource("repository", "a/" + "b" * 253), ("pull",))),
        ("repository:myorg/app:delete", Scope(Resource("repository", "myorg/app"), ("delete",))),
        ("registry:catalog:*", Scope(Resource("registry", "catalog"), ("*",))),
        ("repository(plugin):myorg/app:pull", Scope(Resource("repository", "myorg/app"), ("pull",))),
        ("repository:myorg/app:pull,pull", Scope(Resource("repository", "myorg/app"), ("pull",))),
    ],
)
def test_valid_scopes_parse(text, expected):
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repository",
        "repository:myorg/app",
        "repository::pull",
        "Repository:myorg/app:pull",
        "repository:myorg/app:PULL",
        "repository:myorg/app:pull;rm",
        "repository:myorg/app:pull,",
        "repository:my\torg/app:pull",
        "repository:my\x00org/app:pull",
        "repo(sitory:myorg/app:pull",
        "repository:" + "a" * 600 + ":pull",
    ],
)
def test_junk_scopes_are_refused(text):
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_several_scopes_in_one_value_and_repeated_values():
    scopes = parse_scopes(["repository:a/b:pull,push repository:a/c:pull", "repository:a/d:pull"])
    assert [s.resource.name for s in scopes] == ["a/b", "a/c", "a/d"]


def test_scopes_on_the_same_resource_are_merged():
    scopes = parse_scopes(["repository:a/b:pull", "repository:a/b:push"])
    assert scopes == [Scope(Resource("repository", "a/b"), ("pull", "push"))]


def test_extra_spaces_are_ignored():
    assert len(parse_scopes(["  repository:a/b:pull   repository:a/c:pull "])) == 2


def test_too_many_scopes_are_refused():
    with pytest.raises(ScopeError, match="too many scopes"):
        parse_scopes([" ".join(f"repository:a/r{i}:pull" for i in range(MAX_SCOPES + 1))])


def test_no_scope_is_an_empty_list():
    assert parse_scopes([]) == []


@pytest.mark.parametrize("text", ["repository:myorg/app:pull,pull", "repository(plugin):myorg/app:push,pull", "registry:catalog:*"])
def test_a_single_scope_parses_as_it_would_among_others(text):
    # One scope alone takes a shorter path than several; both must give the same answer.
    assert parse_scopes([text]) == parse_scopes([f" {text} "]) == [parse_scope(text)]


def test_a_malformed_scope_is_refused_every_time():
    # Parsed scopes are remembered; a refusal must not be.
    for _ in range(2):
        with pytest.raises(ScopeError):
            parse_scopes(["repository:myorg/app:PULL"])


def test_remembered_scopes_are_bounded():
    assert parse_scope.cache_info().maxsize is not None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("repository:myorg/..:pull", "component"),
        ("repository:myorg/../app:pull", "component"),
        ("repository:myorg/.x:pull", "component"),
        ("repository:myorg/App:pull", "component"),
        ("repository:myorg//app:pull", "component"),
        ("repository:myorg/app/:pull", "component"),
        ("repository:localhost:5000/myorg/app:pull", "component"),
        ("repository:a/" + "b" * 254 + ":pull", "longer than 255"),
        ("repository(plugin):x/.y:pull", "component"),
    ],
)
def test_names_outside_the_distribution_grammar_are_refused(text, problem):
    with pytest.raises(ScopeNameInvalid, match=problem) as raised:
        parse_scope(text)
    assert raised.value.code == "NAME_INVALID"
    assert repr(text)[:40] in str(raised.value)


@pytest.mark.parametrize("text", ["repository:myorg/app:pull,blah", "repository:myorg/app:pul", "registry:catalog:list"])
def test_unknown_actions_are_refused(text):
    with pytest.raises(ScopeError, match="unknown action") as raised:
        parse_scope(text)
    assert raised.value.code == "INVALID_REQUEST"
