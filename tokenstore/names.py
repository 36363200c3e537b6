"""Naming rules: the one place that says what a valid name is.

Namespace and robot shortname rule from Quay (``^[a-z0-9]+(?:[._-][a-z0-9]+)*$``, 2 to 255
characters); repository path components from the distribution spec's name grammar.
"""

import functools
import re
from typing import NamedTuple

from .errors import NameInvalid

_NAMESPACE_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
# distribution/reference: path-component := alpha-numeric (separator alpha-numeric)*
_REPO_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_MIN_LEN, _MAX_LEN = 2, 255
ROBOT_SEPARATOR = "+"


class RobotName(NamedTuple):
    namespace: str
    shortname: str

    def __str__(self) -> str:
        return f"{self.namespace}{ROBOT_SEPARATOR}{self.shortname}"


class RepositoryName(NamedTuple):
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def check_namespace(name: str, what: str = "namespace") -> str:
    """Return ``name`` unchanged if it is a valid namespace or robot shortname.

    Raises NameInvalid with a message that states the rule.
    """
    if not isinstance(name, str) or not (_MIN_LEN <= len(name) <= _MAX_LEN) or not _NAMESPACE_RE.fullmatch(name):
        raise NameInvalid(
            f"invalid {what} name {_shown(name)}: use 2 to 255 characters of a-z and 0-9, "
            "separated by single '.', '_' or '-'"
        )
    return name


def parse_robot_name(username: str) -> RobotName:
    """Split ``namespace+shortname`` into its parts.

    Returns a RobotName; raises NameInvalid when either part breaks the rule or the
    separator is missing.
    """
    if not isinstance(username, str) or username.count(ROBOT_SEPARATOR) != 1:
        raise NameInvalid(f"invalid robot name {_shown(username)}: expected namespace+shortname")
    namespace, shortname = username.split(ROBOT_SEPARATOR)
    return RobotName(check_namespace(namespace), check_namespace(shortname, "robot shortname"))


def check_distribution_name(name: str) -> str:
    """Return ``name`` unchanged when it is a repository name by the distribution spec's
    grammar: path components of lower-case letters and digits separated by '.', '_', '__'
    or '-', joined by '/', at most 255 characters in all (no host, no namespace rule).

    Raises NameInvalid saying which rule the name breaks.
    """
    if not isinstance(name, str) or not name:
        raise NameInvalid("invalid repository name: it is empty")
    if len(name) > _MAX_LEN:
        raise NameInvalid(f"invalid repository name {_shown(name)}: longer than {_MAX_LEN} characters")
    if not all(_REPO_COMPONENT_RE.fullmatch(part) for part in name.split("/")):
        raise NameInvalid(
            f"invalid repository name {_shown(name)}: each '/'-separated component is lower-case "
            "letters and digits, separated by single '.', '_', '__' or '-' (no '..', no leading '.')"
        )
    return name


def parse_repository_name(full_name: str) -> RepositoryName:
    """Split ``namespace/name[/more]`` into namespace and repository name.

    Returns a RepositoryName; raises NameInvalid when the namespace or a path component
    breaks the rules or the whole name exceeds 255 characters.
    """
    if not isinstance(full_name, str) or "/" not in full_name or len(full_name) > _MAX_LEN:
        raise NameInvalid(
            f"invalid repository name {_shown(full_name)}: expected namespace/name, at most 255 characters"
        )
    return _parse_repository_text(full_name)


# Every token request parses the repository it names, and a fleet names the same few again
# and again. Bounded; a name that breaks the rules raises and is not kept.
@functools.lru_cache(maxsize=4096)
def _parse_repository_text(full_name: str) -> RepositoryName:
    namespace, name = full_name.split("/", 1)
    check_namespace(namespace)
    if not all(_REPO_COMPONENT_RE.fullmatch(part) for part in name.split("/")):
        raise NameInvalid(
            f"invalid repository name {_shown(full_name)}: each path component is lower-case "
            "letters and digits, separated by '.', '_', '__' or '-'"
        )
    return RepositoryName(namespace, name)


def _shown(value: object) -> str:
    """Return a short printable rendering of a rejected name for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Descriptions of robots and namespaces (repositories allow more), and the kinds of namespace
# and repository visibility there are.
DESCRIPTION_MAX = 255
NAMESPACE_KINDS = ("organization", "user")
VISIBILITIES = ("public", "private")


def check_description(description: str, limit: int = DESCRIPTION_MAX) -> str:
    """Return ``description`` when it is text of at most ``limit`` characters; raises NameInvalid."""
    if not isinstance(description, str):
        raise NameInvalid("description must be a string")
    if len(description) > limit:
        raise NameInvalid(f"description is {len(description)} characters long; at most {limit} are allowed")
    return description
