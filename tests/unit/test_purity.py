"""The planner and its model are pure: they must not import anything that does I/O."""

import ast
from pathlib import Path

import pytest

PURE_MODULES = [
    "syncd/sync/model.py",
    "syncd/sync/planner.py",
    "syncd/sync/planner_folders.py",
    "syncd/sync/planner_conflicts.py",
    "syncd/sync/dirty.py",
    "syncd/sync/localnames.py",
]
ALLOWED_ROOTS = {
    "__future__",
    "dataclasses",
    "typing",
    "collections",
    "itertools",
    "functools",
    "enum",
    "datetime",
    "unicodedata",
    "os.path",
    "posixpath",
    "syncd",
    "hashlib",
    "operator",
    "math",
    "re",
}
ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io(module: str) -> None:
    path = ROOT / module
    if not path.exists():
        pytest.fail(f"{module} is missing")
    for name in _imports(path):
        allowed = name in ALLOWED_ROOTS or name.split(".")[0] in ALLOWED_ROOTS - {"os.path"}
        if name.startswith("syncd"):
            allowed = name in {
                "syncd.sync.model",
                "syncd.protocol",
                "syncd.sync.planner",
                "syncd.sync.planner_folders",
                "syncd.sync.planner_conflicts",
                "syncd.sync.localnames",
            }
        assert allowed, f"{module} imports {name}, which may do I/O"
