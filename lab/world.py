"""The whole lab: the Kubernetes API, the SSH control plane and N Windows hosts, and the couplings between them.

`async with Lab(...) as lab:` starts everything on free loopback ports and writes `state_dir/kubeconfig` and
`state_dir/lab.json`; several labs can run at once in one process.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from .clock import LabClock


class Lab:
    """An emulated cluster plus Windows hosts, started and stopped as one async context manager."""

    def __init__(self, scenario: str = "default", state_dir: str | Path | None = None, *, windows: int = 0,
                 windows_build: int = 17763, time_scale: float = 0.02, ssh: bool = True,
                 faults: dict[str, Any] | None = None, host: str = "127.0.0.1") -> None:
        self.scenario = scenario
        self._tmp: tempfile.TemporaryDirectory | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lab-")
            state_dir = self._tmp.name
        self.state_dir = Path(state_dir).resolve()
        self.windows_count = windows
        self.windows_build = windows_build
        self.clock = LabClock(time_scale)
        self.want_ssh = ssh
        self.faults = faults or {}
        self.host = host
        self.ca = None
        self.kube = None
        self.ssh = None
        self.windows_hosts: list = []

    async def __aenter__(self) -> "Lab":
        from .kube.cluster import KubeLab

        from .tls import LabCA

        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ca = LabCA(self.state_dir)
        from .cp_faults import CONTROL_PLANE_HOST, ControlPlaneFaults

        cp_faults = ControlPlaneFaults.from_dict(self.faults.get(CONTROL_PLANE_HOST))
        self.kube = await KubeLab.start(scenario=self.scenario, state_dir=self.state_dir, clock=self.clock,
                                        ca=self.ca, host=self.host)
        self.kube.admission.csr_faults.never_sign.extend(cp_faults.csr_never_signed)
        try:
            if self.want_ssh:
                from .ssh import ControlPlaneSSH

                self.ssh = await ControlPlaneSSH.start(self.kube, state_dir=self.state_dir, host=self.host,
                                                       faults=cp_faults)
            for i in range(self.windows_count):
                await self.add_windows_host(build=self.windows_build)
            self.write_lab_json()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def add_windows_host(self, name: str | None = None, *, build: int | None = None, **options: Any):
        """Start one more emulated Windows Server host (`k8s-ww`, `k8s-ww2`, ...) and return it."""
        from .windows.node import EmulatedWindowsNode

        index = len(self.windows_hosts) + 1
        name = name or ("k8s-ww" if index == 1 else f"k8s-ww{index}")
        node = await EmulatedWindowsNode.start(
            name=name, build=build or self.windows_build, kube=self.kube, clock=self.clock,
            ca=self.ca, state_dir=self.state_dir, host=self.host, faults=self.faults.get(name), **options)
        self.windows_hosts.append(node)
        if self.kube is not None:
            self.write_lab_json()
        return node

    def windows_host(self, name: str):
        """The emulated Windows host called `name`."""
        for h in self.windows_hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def describe(self) -> dict[str, Any]:
        """Every endpoint and credential of the lab: what `lab.json` holds. Keys here are stable."""
        data: dict[str, Any] = {
            "scenario": self.scenario,
            "time_scale": self.clock.scale,
            "kubeconfig": str(self.kube.kubeconfig_path),
            "kube": self.kube.lab_json(),
            "windows_hosts": [h.lab_json() for h in self.windows_hosts],
        }
        if self.ssh is not None:
            data["control_plane_ssh"] = self.ssh.lab_json()
        return data

    def write_lab_json(self) -> Path:
        """Write `state_dir/lab.json` (mode 0600: it holds the lab's credentials)."""
        path = self.state_dir / "lab.json"
        path.write_text(json.dumps(self.describe(), indent=2))
        path.chmod(0o600)
        return path

    async def aclose(self) -> None:
        """Stop every part of the lab."""
        for h in reversed(self.windows_hosts):
            await h.stop()
        self.windows_hosts.clear()
        if self.ssh is not None:
            await self.ssh.stop()
            self.ssh = None
        if self.kube is not None:
            await self.kube.stop()
            self.kube = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
