"""`python -m lab up --no-ssh --state-dir X` runs the lab in the foreground: it writes the kubeconfig and lab.json,
and kubectl works against it (the real default scenario and controllers, in a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from .conftest import KUBECTL

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


async def _kubectl(kubeconfig: Path, cache: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "HOME": str(cache)})
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_lab_up_writes_kubeconfig_and_lab_json(tmp_path):
    state = tmp_path / "state"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "up", "--no-ssh", "--state-dir", str(state), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        printed = []
        while not any("endpoints and credentials" in line for line in printed):
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            if not line:
                raise AssertionError("lab up exited: " + (await proc.stderr.read()).decode()[-3000:])
            printed.append(line.decode())
        kubeconfig = state / "kubeconfig"
        info = json.loads((state / "lab.json").read_text())
        assert info["kubeconfig"] == str(kubeconfig)
        assert info["kube"]["url"].startswith("https://127.0.0.1:")
        assert info["kube"]["version"] == "v1.22.6"
        assert "control_plane_ssh" not in info
        assert (state / "lab.json").stat().st_mode & 0o777 == 0o600
        assert kubeconfig.stat().st_mode & 0o777 == 0o600

        code, out, err = await _kubectl(kubeconfig, tmp_path, "get", "nodes", "-o", "wide")
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                                    "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        assert set(rows) == {"k8s-m", "k8s-lw"}
        assert all(r[1] == "Ready" and r[4] == "v1.22.6" for r in rows.values())
        assert rows["k8s-m"][5] == "172.16.3.170" and rows["k8s-lw"][5] == "172.16.3.171"
        assert rows["k8s-m"][-1] == "docker://20.10.13"
        code, out, err = await _kubectl(kubeconfig, tmp_path, "get", "ippools.crd.projectcalico.org",
                                        "default-ipv4-ippool", "-o", "jsonpath={.spec.ipipMode}")
        assert (code, out, err) == (0, "Always", "")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0
