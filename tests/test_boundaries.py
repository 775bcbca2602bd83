"""Architecture rules that a reader of the code should be able to rely on."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("blocks", "tasks", "flows", "deployments")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_product_module_imports_the_lab():
    offenders = []
    files = [p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py")]
    assert len(files) > 15, "the product packages should be found"
    for path in files:
        for name in _imports(path):
            if name == "lab" or name.startswith("lab."):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_product_code_never_builds_powershell_text_from_values():
    """Remote commands are cmdlets with named parameters or shipped scripts: no add_script with an f-string."""
    offenders = []
    for path in (p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_script":
                if node.args and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
