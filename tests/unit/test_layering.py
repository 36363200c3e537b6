"""The layers stay apart: SQL only in tokenstore's backends, the gateway only on tokenstore's
interface, models and rules, and tokenstore free of HTTP and JWT.

Read from the source with ``ast``, so a new module is checked the moment it exists.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKENSTORE = ROOT / "tokenstore"
GATEWAY = ROOT / "gateway"
BACKENDS = ("sql", "sqlite", "postgres")
DRIVERS = ("sqlite3", "sqlite_utils", "psycopg", "psycopg_pool")

# Upper case, as every statement of this code is written; prose in lower case never matches.
SQL = re.compile(
    r"\bSELECT\b|\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b|\bPRAGMA\b"
    r"|\b(?:CREATE|ALTER|DROP)\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\b"
)


def modules(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if "__pycache__" not in path.parts)


def model_modules() -> list[Path]:
    """tokenstore's modules outside its backends."""
    return [path for path in modules(TOKENSTORE) if path.relative_to(TOKENSTORE).parts[0] not in BACKENDS]


def shared_sql_modules() -> list[Path]:
    """The SQL both backends run (tokenstore/sql/): SQL text, but no driver."""
    return modules(TOKENSTORE / "sql")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """Return the package relative imports in ``path`` start from."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported(path: Path) -> list[tuple[int, str]]:
    """Return (line, module) for each import in ``path`` (see ``imports_in``)."""
    return imports_in(path.read_text(), package_of(path), str(path))


def imports_in(source: str, package: str, filename: str = "<test>") -> list[tuple[int, str]]:
    """Return (line, module) for each import in ``source``, relative ones made absolute from
    ``package``; for ``from package import name`` both ``package`` and ``package.name``
    (which may be a module)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def is_module(name: str) -> bool:
    """True when ``name`` is a module or package (namespace packages too) of this project,
    not an attribute."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def within(name: str, prefixes) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def docstrings(tree: ast.AST) -> set[int]:
    """Return the ids of the docstring nodes of ``tree``: prose about SQL is not SQL."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_literals(source: str, filename: str = "<test>") -> list[tuple[int, str]]:
    """Return (line, text) for each string literal of ``source`` that reads as SQL; an
    f-string counts with its holes left blank."""
    tree = ast.parse(source, filename)
    skip = docstrings(tree)
    in_fstring = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [value for value in node.values if isinstance(value, ast.Constant)]
            in_fstring.update(id(part) for part in parts)
            text = " ".join(str(part.value) for part in parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in skip or id(node) in in_fstring:
                continue
            text = node.value
        else:
            continue
        if SQL.search(text):
            found.append((node.lineno, text.strip()[:80]))
    return found


def test_the_checks_see_what_they_look_for():
    assert model_modules() and modules(GATEWAY)
    assert TOKENSTORE / "sql" / "store.py" not in model_modules()
    assert TOKENSTORE / "sql" / "copy.py" in shared_sql_modules()
    assert is_module("tokenstore.sqlite") and is_module("tokenstore.errors") and not is_module("tokenstore.Store")
    assert sql_literals('db.execute("SELECT id FROM robots WHERE id = ?", [1])')
    assert sql_literals('x = f"DELETE FROM {table} WHERE id IN ({marks})"')
    assert sql_literals('SQL = "UPDATE robots SET deleted_at = ?"')
    assert not sql_literals('"""DELETE FROM in a module docstring is prose."""')
    assert not sql_literals('"""Select the robots from the namespace, then update their rows."""')
    assert not sql_literals('def f():\n    """Runs SELECT 1 (a docstring)."""\n')
    assert (1, "tokenstore.sql.robots") in imports_in("from .sql import robots", "tokenstore")
    assert (1, "tokenstore.errors") in imports_in("from ..errors import StoreBusy", "tokenstore.sql")
    assert (2, "sqlite3") in imports_in("def f():\n    import sqlite3", "tokenstore")


@pytest.mark.parametrize("path", model_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_sql_outside_the_backends(path):
    assert sql_literals(path.read_text(), str(path)) == [], (
        f"{path.relative_to(ROOT)} holds SQL: queries belong in tokenstore/sql/ (or a backend's folder)"
    )


@pytest.mark.parametrize("path", model_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_database_driver_outside_the_backends(path):
    drivers = [(line, name) for line, name in imported(path) if within(name, DRIVERS)]
    assert drivers == [], f"{path.relative_to(ROOT)} imports a database driver outside tokenstore's backends"


@pytest.mark.parametrize("path", shared_sql_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_shared_sql_imports_no_database_driver(path):
    """Driver code (connections, cursors, driver errors, PRAGMAs' effects) lives in
    tokenstore/sqlite/ and tokenstore/postgres/; tokenstore/sql/ holds what both run."""
    drivers = [(line, name) for line, name in imported(path) if within(name, DRIVERS)]
    assert drivers == [], f"{path.relative_to(ROOT)} imports a database driver: it belongs in a backend's folder"


@pytest.mark.parametrize("path", modules(TOKENSTORE), ids=lambda path: str(path.relative_to(ROOT)))
def test_tokenstore_knows_nothing_of_http_jwt_or_the_gateway(path):
    found = [(line, name) for line, name in imported(path) if within(name, ("aiohttp", "jwt", "gateway"))]
    assert found == [], f"{path.relative_to(ROOT)} imports HTTP, JWT or gateway code"


@pytest.mark.parametrize("path", modules(GATEWAY), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_gateway_uses_only_the_stores_interface_models_and_rules(path):
    """The gateway may import ``tokenstore`` and its top-level modules (interface, errors,
    models, rules, opening), never a backend's package nor a database driver."""
    found = []
    for line, name in imported(path):
        if within(name, DRIVERS):
            found.append((line, name))
        elif within(name, ("tokenstore",)) and is_module(name):
            top = name.split(".")
            if len(top) > 2 or (len(top) == 2 and not (TOKENSTORE / f"{top[1]}.py").is_file()):
                found.append((line, name))
    assert found == [], f"{path.relative_to(ROOT)} reaches past tokenstore's interface"
