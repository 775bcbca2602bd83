"""Fixtures for the controllers and network-model tests: a fresh KubeLab per test (they change cluster-wide
Calico settings), the unmodified `kubernetes.aio` client, exec through the API's websocket, and a fake Windows
node runtime standing in for the Windows host model."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import aiohttp
import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio import config as kconfig
from kubernetes.aio.stream import WsApiClient

from lab.clock import LabClock
from lab.kube.cluster import KubeLab
from lab.kube.exec import ExecResult
from lab.tls import LabCA

TIME_SCALE = 0.002  # 130 s TCP timeouts take 0.26 s


@pytest.fixture
def lab(tmp_path):
    """`async with lab("default") as kube:` — a started KubeLab of that scenario, stopped afterwards."""
    @asynccontextmanager
    async def start(scenario: str = "default") -> AsyncIterator[KubeLab]:
        state = tmp_path / scenario
        state.mkdir(parents=True, exist_ok=True)
        kube = await KubeLab.start(scenario=scenario, state_dir=state, clock=LabClock(TIME_SCALE),
                                   ca=LabCA(state))
        try:
            yield kube
            assert kube.controllers.errors == [], kube.controllers.errors
        finally:
            await kube.stop()
    return start


@asynccontextmanager
async def api_client(kube: KubeLab) -> AsyncIterator[kclient.ApiClient]:
    """A `kubernetes.aio` ApiClient from the lab's admin kubeconfig."""
    cfg = kclient.Configuration()
    await kconfig.load_kube_config(config_file=str(kube.kubeconfig_path), client_configuration=cfg)
    api = kclient.ApiClient(cfg)
    try:
        yield api
    finally:
        await api.close()


async def api_exec(api: kclient.ApiClient, ns: str, pod: str, argv: list[str]) -> ExecResult:
    """Exec through the API server's websocket, as kubectl/the product do; the exit code from the Status."""
    ws = WsApiClient(configuration=api.configuration)
    ws.rest_client = api.rest_client
    core = kclient.CoreV1Api(ws)
    out, err, status = [], [], {}
    resp = await core.connect_get_namespaced_pod_exec_without_preload_content(
        pod, ns, command=argv, stderr=True, stdin=False, stdout=True, tty=False)
    async with resp as sock:
        async for msg in sock:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                break
            ch, payload = msg.data[0], msg.data[1:]
            if ch == 1:
                out.append(payload)
            elif ch == 2:
                err.append(payload)
            elif ch == 3 and payload:
                status = json.loads(payload)
    code = 0
    if status.get("status") != "Success":
        code = int(next(c["message"] for c in status["details"]["causes"] if c["reason"] == "ExitCode"))
    return ExecResult(b"".join(out), b"".join(err), code)


async def run(kube: KubeLab, pod: str, argv: list[str], ns: str = "default", container: str | None = None
              ) -> ExecResult:
    """Exec straight through `kube.exec_runtime` (the store-level path)."""
    p = kube.store.get(kube.registry.get("", "pods"), ns, pod)
    return await kube.exec_runtime(p, container or p["spec"]["containers"][0]["name"], argv, None)


async def until(check, what: str, deadline: float = 30):
    """Poll `check()` (a coroutine function) until it returns something truthy, failing after `deadline` s."""
    async def loop():
        while True:
            got = await check()
            if got:
                return got
            await asyncio.sleep(0.02)
    try:
        return await asyncio.wait_for(loop(), deadline)
    except asyncio.TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def settle(kube: KubeLab) -> None:
    """Wait until the controllers have nothing queued and no background step (pull, finalize) pending."""
    await asyncio.wait_for(kube.controllers.wait_idle(), 30)


def rt(kube: KubeLab, group: str, plural: str):
    return kube.registry.get(group, plural)


def pod_obj(name: str, image: str, labels: dict | None = None, command: list[str] | None = None,
            **spec: Any) -> dict:
    c: dict[str, Any] = {"name": name, "image": image}
    if command:
        c["command"] = command
    return {"metadata": {"name": name, "labels": labels or {"run": name}}, "spec": {"containers": [c], **spec}}


def deployment_obj(name: str, image: str, replicas: int = 1, labels: dict | None = None, port: int | None = 80,
                   **spec: Any) -> dict:
    labels = labels or {"run": name}
    c: dict[str, Any] = {"name": name, "image": image}
    if port:
        c["ports"] = [{"containerPort": port}]
    return {"metadata": {"name": name}, "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                                                 "template": {"metadata": {"labels": labels},
                                                              "spec": {"containers": [c], **spec}}}}


def service_obj(name: str, selector: dict, port: int = 80) -> dict:
    return {"metadata": {"name": name}, "spec": {"selector": selector, "ports": [{"port": port}]}}


def pods_of(kube: KubeLab, ns: str = "default", **labels: str) -> list[dict]:
    return kube.store.list(rt(kube, "", "pods"), ns, lambda p: all(
        (p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items()))


def events_for(kube: KubeLab, obj: dict) -> list[dict]:
    return kube.controllers.ctx.events.for_object(obj)


@dataclass
class FakeWindowsRuntime:
    """A NodeRuntime as the Windows host model provides it, with its state as plain fields."""

    node_name: str
    os: str = "windows"
    cni: tuple[bool, str] = (True, "")
    start_error: str | None = None
    speaks: str | None = "vxlan"
    felix_running: bool = True
    vni_port: tuple[int, int] = (4096, 4789)
    execs: list[list[str]] = field(default_factory=list)

    def cni_ready(self) -> tuple[bool, str]:
        return self.cni

    def pod_start_error(self, pod: dict) -> str | None:
        return self.start_error

    def overlay(self) -> str | None:
        return self.speaks

    def policy_enforced(self) -> bool:
        return self.felix_running

    def requires_strict_affinity(self) -> bool:
        return True

    def vxlan_settings(self) -> tuple[int, int]:
        return self.vni_port

    async def exec(self, pod: dict, container: str, argv: list[str]):
        self.execs.append(argv)
        return None


def add_windows_node(kube: KubeLab, name: str = "k8s-ww", ip: str = "172.16.3.172", build: str = "10.0.17763",
                     runtime: FakeWindowsRuntime | None = None) -> FakeWindowsRuntime:
    """A Ready Windows Node (as the Windows host engineer's kubelet registers it) with a fake runtime."""
    runtime = runtime or FakeWindowsRuntime(name)
    kube.register_node_runtime(name, runtime)
    kube.store.create(rt(kube, "", "nodes"), {
        "metadata": {"name": name, "labels": {"kubernetes.io/os": "windows", "kubernetes.io/arch": "amd64",
                                              "kubernetes.io/hostname": name,
                                              "node.kubernetes.io/windows-build": build}},
        "spec": {},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "message": "kubelet is posting ready status"}],
                   "nodeInfo": {"kubeletVersion": "v1.22.6", "kubeProxyVersion": "v1.22.6",
                                "osImage": "Windows Server 2019 Datacenter Evaluation",
                                "kernelVersion": "10.0.17763.1999", "containerRuntimeVersion": "docker://20.10.9",
                                "operatingSystem": "windows", "architecture": "amd64", "machineID": name,
                                "systemUUID": name, "bootID": "b"}}})
    return runtime


def calico_patch(kube: KubeLab, plural: str, name: str, **spec: Any) -> None:
    """Edit a Calico object's spec (as calicoctl/kubectl would)."""
    def put(o: dict) -> None:
        o.setdefault("spec", {}).update(spec)
    kube.store.mutate(rt(kube, "crd.projectcalico.org", plural), None, name, put)


def set_strict_affinity(kube: KubeLab, on: bool = True) -> None:
    """`calicoctl ipam configure --strictaffinity=...`: create or update IPAMConfig default."""
    r = rt(kube, "crd.projectcalico.org", "ipamconfigs")
    if kube.store.try_get(r, None, "default") is None:
        kube.store.create(r, {"metadata": {"name": "default"},
                              "spec": {"strictAffinity": on, "autoAllocateBlocks": True}})
    else:
        calico_patch(kube, "ipamconfigs", "default", strictAffinity=on)


def make_vxlan(kube: KubeLab, *, felix_vxlan: bool = True) -> None:
    """The join flow's Calico changes: pool VXLAN Always, Felix ipip off (and vxlanEnabled on)."""
    calico_patch(kube, "ippools", "default-ipv4-ippool", ipipMode="Never", vxlanMode="Always")
    extra = {"vxlanEnabled": True} if felix_vxlan else {}
    calico_patch(kube, "felixconfigurations", "default", ipipEnabled=False, **extra)


IIS = "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019"


def create(kube: KubeLab, group: str, plural: str, obj: dict, ns: str | None = "default") -> dict:
    return kube.store.create(rt(kube, group, plural), obj, ns)


async def linux_basics(kube: KubeLab) -> str:
    """The runbook's Linux side: netshoot, nginx Deployment, nginx-svc; returns the Service's ClusterIP."""
    create(kube, "", "pods", pod_obj("netshoot", "nicolaka/netshoot"))
    create(kube, "apps", "deployments", deployment_obj("nginx", "nginx"))
    svc = create(kube, "", "services", service_obj("nginx-svc", {"run": "nginx"}))
    await settle(kube)
    return svc["spec"]["clusterIP"]


async def windows_setup(kube: KubeLab, runtime: FakeWindowsRuntime | None = None) -> FakeWindowsRuntime:
    """linux_basics plus a Windows node (strict affinity on) running the IIS Deployment and iis-svc."""
    await linux_basics(kube)
    win = add_windows_node(kube, runtime=runtime)
    set_strict_affinity(kube)
    create(kube, "apps", "deployments", deployment_obj("iis", IIS, nodeSelector={"kubernetes.io/os": "windows"}))
    create(kube, "", "services", service_obj("iis-svc", {"run": "iis"}))
    await settle(kube)
    return win
