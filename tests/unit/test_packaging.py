"""What a non-editable install (a wheel, the container image) ships: every folder of code."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE_FOLDERS = sorted({path.parent for top in ("gateway", "tokenstore") for path in (ROOT / top).rglob("*.py")})


@pytest.mark.parametrize("folder", CODE_FOLDERS, ids=lambda folder: str(folder.relative_to(ROOT)))
def test_every_code_folder_is_a_package(folder):
    # setuptools' find_packages skips a folder without __init__.py: its modules would be
    # missing from the wheel while the tests, run from the source tree, still pass.
    assert (folder / "__init__.py").exists(), f"{folder.relative_to(ROOT)} has no __init__.py"
