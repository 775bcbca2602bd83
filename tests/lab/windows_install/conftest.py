"""Fixtures for the installer tests: a fresh lab (Kubernetes API + one emulated Windows host) per test, a pypsrp
runner that talks to the host the way the product does, and helpers that put the cluster's Calico objects in the
states the runbook goes through."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

TIME_SCALE = 0.002          # a 6 s HNS creation takes 12 ms
INSTALLER_PATH = "c:\\install-calico-windows.ps1"
RELEASE_URL = "https://github.com/projectcalico/calico/releases/download/v{v}/install-calico-windows.ps1"


@dataclass
class Result:
    """What one pypsrp invocation returned."""

    output: list[Any]
    errors: list[str]
    information: list[str]
    had_errors: bool
    raw: Any = field(default=None, repr=False)

    def text(self) -> str:
        """Every Write-Host line, joined."""
        return "\n".join(self.information)


class Remote:
    """Runs commands on an emulated host through the unmodified pypsrp client (NTLM over HTTPS)."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def _run_sync(self, command: str, params: dict[str, Any]) -> Result:
        from pypsrp.powershell import PowerShell, RunspacePool
        from pypsrp.wsman import WSMan

        u = urlsplit(self.node.winrm_url)
        wsman = WSMan(u.hostname, port=u.port, path=u.path.lstrip("/"), username=self.node.username,
                      password=self.node.password, ssl=True, cert_validation=str(self.node.ca_file),
                      auth="ntlm", no_proxy=True, operation_timeout=20, read_timeout=30)
        with wsman, RunspacePool(wsman) as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet(command)
            for k, v in params.items():
                ps.add_parameter(k, v)
            out = ps.invoke()
            info = [str(getattr(i, "message_data", i)) for i in ps.streams.information]
            return Result(list(out), [str(e) for e in ps.streams.error], info, ps.had_errors, ps)

    async def run(self, command: str, **params: Any) -> Result:
        """Run one command (a cmdlet, or a script file by path) with named parameters."""
        return await asyncio.to_thread(self._run_sync, command, params)

    async def copy(self, data: bytes, remote_path: str) -> None:
        """pypsrp Client.copy of `data` to `remote_path`."""
        import os
        import tempfile

        from pypsrp.client import Client

        u = urlsplit(self.node.winrm_url)
        fd, tmp = tempfile.mkstemp()
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            client = Client(u.hostname, port=u.port, path=u.path.lstrip("/"), username=self.node.username,
                            password=self.node.password, ssl=True, cert_validation=str(self.node.ca_file),
                            auth="ntlm", no_proxy=True)
            await asyncio.to_thread(client.copy, tmp, remote_path)
        finally:
            os.unlink(tmp)


@pytest.fixture
async def lab(tmp_path):
    """A lab in the runbook's starting state with one Windows host, k8s-ww (Docker 20.10.9, as in the runbook)."""
    from lab.world import Lab

    async with Lab("default", tmp_path, time_scale=TIME_SCALE, ssh=False) as lab:
        await lab.add_windows_host(runtime="docker")
        yield lab


@pytest.fixture
def node(lab):
    """The emulated host k8s-ww."""
    return lab.windows_hosts[0]


@pytest.fixture
def remote(node):
    """pypsrp against k8s-ww."""
    return Remote(node)


def calico_rt(lab: Any, plural: str) -> Any:
    """The served Calico resource type (crd.projectcalico.org/v1)."""
    return lab.kube.registry.get("crd.projectcalico.org", plural)


def runbook_calico_steps(lab: Any, *, vxlan_enabled: bool = False, strict_affinity: bool = True) -> None:
    """What the runbook's step ② does to the cluster: pool IPIP→VXLAN, Felix ipipEnabled false, strict affinity
    on — and, when asked, what it forgets: Felix vxlanEnabled true."""
    store = lab.kube.store

    def pool(obj: dict) -> None:
        obj["spec"]["ipipMode"] = "Never"
        obj["spec"]["vxlanMode"] = "Always"
    store.mutate(calico_rt(lab, "ippools"), None, "default-ipv4-ippool", pool)

    def felix(obj: dict) -> None:
        obj["spec"]["ipipEnabled"] = False
        if vxlan_enabled:
            obj["spec"]["vxlanEnabled"] = True
    store.mutate(calico_rt(lab, "felixconfigurations"), None, "default", felix)
    set_strict_affinity(lab, strict_affinity)


def set_strict_affinity(lab: Any, on: bool) -> None:
    """`calicoctl ipam configure --strictaffinity=<on>`."""
    store, rt = lab.kube.store, calico_rt(lab, "ipamconfigs")
    cur = store.try_get(rt, None, "default")
    if cur is None:
        store.create(rt, {"metadata": {"name": "default"}, "spec": {"strictAffinity": on, "autoAllocateBlocks": True}})
    else:
        store.mutate(rt, None, "default", lambda o: o["spec"].__setitem__("strictAffinity", on))


def set_vxlan_enabled(lab: Any) -> None:
    """Felix `vxlanEnabled: true` (what the runbook misses)."""
    lab.kube.store.mutate(calico_rt(lab, "felixconfigurations"), None, "default",
                          lambda o: o["spec"].__setitem__("vxlanEnabled", True))


async def stage_runbook_files(lab: Any, node: Any, remote: Remote, version: str = "3.22.5") -> None:
    """`mkdir c:\\k`, copy the admin kubeconfig to c:\\k\\config, download the installer to
    c:\\install-calico-windows.ps1 — all through pypsrp."""
    r = await remote.run("New-Item", Path="c:\\k", ItemType="Directory", Force=True)
    assert not r.had_errors, r.errors
    await remote.copy(lab.kube.kubeconfig_path.read_bytes(), "c:\\k\\config")
    r = await remote.run("Invoke-WebRequest", Uri=RELEASE_URL.format(v=version), OutFile=INSTALLER_PATH,
                         UseBasicParsing=True)
    assert not r.had_errors, r.errors


def node_condition(node_obj: dict | None, kind: str = "Ready") -> dict | None:
    """A condition of a Node object, or None."""
    for c in ((node_obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


async def wait_node(lab: Any, name: str, predicate: Any, timeout: float = 20.0) -> dict:
    """Watch Node `name` until `predicate(node)` holds; returns it. Raises TimeoutError."""
    store = lab.kube.store
    rt = lab.kube.registry.get("", "nodes")
    async with asyncio.timeout(timeout):
        current = store.try_get(rt, None, name)
        if current is not None and predicate(current):
            return current
        async for ev in store.watch(rt, None, store.resource_version):
            if ev.obj["metadata"]["name"] == name and ev.type != "DELETED" and predicate(ev.obj):
                return ev.obj
    raise TimeoutError(name)


def ready_status(node_obj: dict) -> str:
    c = node_condition(node_obj)
    return c.get("status", "") if c else ""


async def finish_scripts(node: Any, timeout: float = 30.0) -> list[int]:
    """Wait for every installer script started on the host to end; their exit codes."""
    from lab.windows.installers.runtime import runtime_for

    rt = runtime_for(node.host)
    async with asyncio.timeout(timeout):
        return [await asyncio.shield(r.task) for r in list(rt.script_runs)]


@dataclass
class InstallRun:
    """One run of install-calico-windows.ps1 as an operator sees it over WinRM, plus the host's transcript."""

    result: Result | None        # what pypsrp returned; None when the connection dropped mid-run
    dropped: bool
    lines: list[str]             # every Write-Host line the script printed (the console transcript)
    exit_code: int | None
    failure: str | None          # the terminating error's message, if the script failed

    def text(self) -> str:
        return "\n".join(self.lines)


async def run_installer(remote: Remote, node: Any, path: str = INSTALLER_PATH, **params: Any) -> InstallRun:
    """Run the installer through pypsrp. Creating the vSwitch drops the WinRM connection (as on a real host); then
    wait, as an operator would after reconnecting, for the script to finish on the host."""
    import requests

    from lab.windows.dispatch import PipelineFailed
    from lab.windows.installers.runtime import runtime_for

    rt = runtime_for(node.host)
    before = len(rt.script_runs)
    result, dropped = None, False
    try:
        result = await remote.run(path, **params)
    except requests.exceptions.ConnectionError:
        dropped = True
    if len(rt.script_runs) == before:   # refused before it ran (parameter binding)
        return InstallRun(result, dropped, [], None, result.errors[-1] if result and result.errors else None)
    run = rt.script_runs[-1]
    failure = None
    try:
        async with asyncio.timeout(30):
            await asyncio.shield(run.task)
    except PipelineFailed as exc:
        failure = exc.record.message
    return InstallRun(result, dropped, run.lines, run.exit_code, failure)


async def wait_file_contains(host: Any, path: str, needle: str, timeout: float = 20.0) -> str:
    """Wait (on the host's file-write hook, not by polling) until `path` on the host contains `needle`."""
    changed = asyncio.Event()

    def hook(written: str) -> None:
        if written.lower() == path.lower():
            changed.set()
    host.fs.on_write.append(hook)
    try:
        async with asyncio.timeout(timeout):
            while not (host.fs.is_file(path) and needle in host.fs.read_text(path)):
                changed.clear()
                await changed.wait()
        return host.fs.read_text(path)
    finally:
        host.fs.on_write.remove(hook)
