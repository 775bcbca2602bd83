"""The wheel as a user installs it: only `prefect_windows_nodes/...`, beside a user's own top-level `tasks`
package without shadowing it, its four block types registered by module, and a join run from the installed
package (not this checkout) against the lab."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from tests.flows.conftest import started_lab

ROOT = Path(__file__).resolve().parents[2]
#: The block types the package registers: every Block it exports.
BLOCK_TYPES = [obj for obj in vars(__import__("prefect_windows_nodes.blocks", fromlist=["*"])).values()
               if isinstance(obj, type) and issubclass(obj, Block) and obj.__module__.startswith("prefect_windows_nodes")]
BLOCK_SLUGS = {b.get_block_type_slug() for b in BLOCK_TYPES}

pytestmark = pytest.mark.usefixtures("prefect_api")


def run(*cmd: str, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the test environment's setuptools builds it (no download; `make` keeps it current).
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out),
        str(ROOT), cwd=out)
    return next(out.glob("prefect_windows_nodes-*.whl"))


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory, wheel) -> Path:
    """A new venv that first gets a user's package with a top-level `tasks` module, then our wheel. Its
    dependencies come from this test run's environment (a .pth after its own site-packages), not a download."""
    root = tmp_path_factory.mktemp("fresh")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", str(venv), cwd=root)
    python = venv / "bin" / "python"
    site = Path(run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=root).stdout.strip())
    user = root / "user-tasks"
    (user / "tasks").mkdir(parents=True)
    (user / "tasks" / "__init__.py").write_text('OWNER = "the user"\n')
    (user / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "user-tasks"
        version = "1.0"
        [tool.setuptools]
        packages = ["tasks"]
        """))
    # Built here (no download), installed there: a user's distribution providing the top-level module `tasks`.
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(root),
        str(user), cwd=root)
    run(str(python), "-m", "pip", "install", "--quiet", str(next(root.glob("user_tasks-*.whl"))), cwd=root)
    run(str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel), cwd=root)
    (site / "zz-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_holds_only_the_namespaced_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and tops - dist_info == {"prefect_windows_nodes"}
    assert {n.split("/")[1] for n in names if n.startswith("prefect_windows_nodes/")} == {
        "blocks", "tasks", "flows", "deployments"}
    assert not [n for n in names if n.endswith(".ps1") or "/lab/" in n or "benchmarks" in n or "tests/" in n]
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "prefect_windows_nodes = prefect_windows_nodes.blocks" in entry_points


async def test_installed_beside_a_users_tasks_package(fresh_venv, tmp_path):
    python = str(fresh_venv / "bin" / "python")
    probe = ("import tasks, prefect_windows_nodes.tasks as ours, prefect_windows_nodes.flows.join as join; "
             "print(tasks.OWNER); print(ours.__file__); print(join.__file__)")
    out = run(python, "-c", probe, cwd=tmp_path).stdout.splitlines()
    assert out[0] == "the user"
    assert all(str(fresh_venv) in line for line in out[1:]), out

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    # `python -m prefect`: the CLI of the Prefect the wheel's venv imports (its console script lives elsewhere here)
    registered = run(python, "-m", "prefect", "block", "register", "-m", "prefect_windows_nodes.blocks",
                     cwd=tmp_path, env=env)
    assert {"windows-nodes-kubernetes-cluster", "windows-host", "control-plane-ssh", "windows-join-settings",
            "windows-join-policy"} <= BLOCK_SLUGS
    assert f"Successfully registered {len(BLOCK_SLUGS)} blocks" in registered.stdout
    async with get_client() as client:
        slugs = {b.slug for b in await client.read_block_types()}
    assert BLOCK_SLUGS <= slugs


async def test_a_join_through_the_installed_wheel(fresh_venv, tmp_path):
    script = tmp_path / "join.py"
    script.write_text(textwrap.dedent("""\
        import asyncio, sys
        import prefect_windows_nodes
        from prefect_windows_nodes.flows.join import JoinRequest, join_windows_node
        assert all(sys.prefix in p for p in prefect_windows_nodes.__path__), prefect_windows_nodes.__path__
        request = JoinRequest(host_block=sys.argv[1], cluster_block=sys.argv[2], smoke=False, netpol=False)
        summary = asyncio.run(join_windows_node(request))
        print("OUTCOME", summary.outcome, summary.node)
        """))
    async with started_lab() as (lab, names):
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
        proc = await asyncio.create_subprocess_exec(
            str(fresh_venv / "bin" / "python"), str(script), "k8s-ww", names["cluster"], cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text[-4000:]
        assert "OUTCOME joined k8s-ww" in text
        node = lab.kube.store.get(lab.kube.registry.get("", "nodes"), None, "k8s-ww")
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
