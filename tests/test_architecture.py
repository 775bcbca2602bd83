"""Architecture rules a reader can rely on, beyond the import-linter layers (`make lint`): steps alone at the top
of tasks/, no product logic in PowerShell the lab would have to recognise, no value formatted into script text,
every imported module a declared dependency, and only citable documents cited."""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("blocks", "tasks", "flows", "deployments")
STEPS = {"calico_reconfigure", "windows_prereqs", "install_calico_windows", "install_kube_services",
         "wait_node_ready", "workload_smoke", "netpol_verify"}
#: Names of the PowerShell scripts the product shipped before its facts were read with cmdlets.
FORMER_SCRIPTS = ("Get-WindowsNodeFacts", "Get-CalicoNodeState", "Get-NodeLogTail")


def product_files() -> list[Path]:
    files = [p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py")]
    assert len(files) > 30, "the product packages should be found"
    return files


def test_only_the_seven_steps_sit_at_the_top_of_tasks():
    top = {p.stem for p in (ROOT / "tasks").glob("*.py")} - {"__init__"}
    assert top == STEPS
    private = {p.name for p in (ROOT / "tasks").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert all(name.startswith("_") for name in private), private


def test_the_product_ships_no_powershell_and_the_lab_knows_no_product_script():
    assert not list(ROOT.glob("blocks/**/*.ps1")) + list(ROOT.glob("tasks/**/*.ps1")) + \
        list(ROOT.glob("flows/**/*.ps1")) + list(ROOT.glob("deployments/**/*.ps1"))
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in (ROOT / "lab").rglob("*.py")]
    assert len(texts) > 50
    history = [s.encode() for s in FORMER_SCRIPTS]
    digests = {hashlib.sha256(h).hexdigest() for h in history}
    for text in texts:
        for name in FORMER_SCRIPTS:
            assert name not in text
        assert "tasks/ps" not in text and "tasks\\\\ps" not in text
        assert not digests & set(re.findall(r"[0-9a-f]{64}", text))


def test_no_value_is_formatted_into_script_text():
    """Remote commands are cmdlets or executables with parameters: no add_script/Command built from an f-string,
    a concatenation or a %-format, and no script text (`is_script`) sent at all."""
    offenders = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
            if name in ("add_script", "Command", "run", "invoke") and node.args:
                first = node.args[0]
                if isinstance(first, (ast.BinOp, ast.JoinedStr)) and name == "add_script":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if name == "add_script":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} sends script text")
    assert offenders == []


def _imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


#: import name → distribution name, where they differ.
DISTRIBUTIONS = {"yaml": "pyyaml"}
#: Imported only inside `try: ... except ImportError`, for an optional feature that says what to install.
OPTIONAL = {"gssapi"}  # WindowsHost auth="kerberos": pyspnego[kerberos]


def test_every_module_the_product_imports_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    imported = set().union(*(_imported_top_levels(p) for p in product_files()))
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in ("prefect_windows_nodes",)}
    undeclared = {m for m in third_party - OPTIONAL if DISTRIBUTIONS.get(m, m).lower() not in declared}
    assert undeclared == set()


def test_product_text_cites_only_what_a_user_can_open():
    """Docstrings and messages cite URLs or files in this repository, never our private reference notes."""
    private = re.compile(r"calico-windows\.md|runbook\.md|lab-notes\.md|prefect\.md|style\.md|shared/reference")
    offenders = [f"{p.relative_to(ROOT)}" for p in product_files() if private.search(p.read_text())]
    assert offenders == []
