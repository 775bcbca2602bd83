"""Fixtures for the API server tests: one KubeLab per session (without the scenario and controllers, which have
their own tests; a tiny stub scenario instead), the unmodified `kubernetes.aio` client, and kubectl.

Tests share the lab, so each works in its own namespace (`ns`) or on uniquely named objects.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio import config as kconfig

from lab.clock import LabClock
from lab.kube.cluster import KubeLab
from lab.kube.resources import CALICO_CRDS, OPERATOR_CRDS
from lab.tls import LabCA

KUBECTL = shutil.which("kubectl")


def node_object(name: str, ip: str, *, role: str | None = None, os_image: str = "Ubuntu 20.04.2 LTS") -> dict:
    """A Ready Linux node as a kubelet would register it (the stub scenario's nodes)."""
    labels = {"kubernetes.io/os": "linux", "kubernetes.io/hostname": name, "kubernetes.io/arch": "amd64"}
    if role:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": "192.168.0.0/24"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}],
            "nodeInfo": {"kubeletVersion": "v1.22.6", "kubeProxyVersion": "v1.22.6", "osImage": os_image,
                         "kernelVersion": "5.4.0-100-generic", "containerRuntimeVersion": "docker://20.10.13",
                         "operatingSystem": "linux", "architecture": "amd64", "machineID": "m", "systemUUID": "s",
                         "bootID": "b"},
        },
    }


def seed_stub(kube: KubeLab) -> None:
    """The stub scenario: two Ready nodes and the Calico and operator CRDs (idempotent)."""
    nodes = kube.registry.get("", "nodes")
    for name, ip, role in (("k8s-m", "172.16.3.170", "control-plane"), ("k8s-lw", "172.16.3.171", None)):
        if kube.store.try_get(nodes, None, name) is None:
            kube.store.create(nodes, node_object(name, ip, role=role))
    for rt in CALICO_CRDS + OPERATOR_CRDS:
        kube.serve_crd(rt)


@pytest.fixture(scope="session")
async def kube(tmp_path_factory) -> KubeLab:
    state = tmp_path_factory.mktemp("kube")
    lab = await KubeLab.start(scenario="default", state_dir=state, clock=LabClock(0.01), ca=LabCA(state),
                              seed=False, controllers=False)
    seed_stub(lab)
    yield lab
    await lab.stop()


@pytest.fixture(scope="session")
async def api(kube: KubeLab) -> kclient.ApiClient:
    """A `kubernetes.aio` ApiClient configured from the lab's admin kubeconfig."""
    cfg = kclient.Configuration()
    await kconfig.load_kube_config(config_file=str(kube.kubeconfig_path), client_configuration=cfg)
    c = kclient.ApiClient(cfg)
    yield c
    await c.close()


async def client_for(kube: KubeLab, kubeconfig_text: str, tmp_path: Path) -> kclient.ApiClient:
    """A `kubernetes.aio` ApiClient for another kubeconfig (other users' tokens or certificates)."""
    path = tmp_path / f"kubeconfig-{uuid.uuid4().hex[:6]}"
    path.write_text(kubeconfig_text)
    cfg = kclient.Configuration()
    await kconfig.load_kube_config(config_file=str(path), client_configuration=cfg)
    return kclient.ApiClient(cfg)


@pytest.fixture
async def ns(api: kclient.ApiClient) -> str:
    """A fresh namespace for one test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kclient.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def kubectl(kube: KubeLab, tmp_path_factory):
    """`await kubectl("get", "nodes")` → Run(code, out, err), against the lab with its admin kubeconfig.

    Runs asynchronously: the API server shares the test's event loop."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    cache = tmp_path_factory.mktemp("kubectl-cache")

    async def run(*args: str, kubeconfig: str | None = None, stdin: bytes | None = None) -> Run:
        env = {**os.environ, "HOME": str(cache)}
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, "--kubeconfig", kubeconfig or str(kube.kubeconfig_path), "--cache-dir", str(cache), *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await proc.communicate(stdin)
        return Run(proc.returncode, out.decode(), err.decode())

    return run


def kubectl_minor() -> int:
    """The minor version of the kubectl on PATH (0 when absent)."""
    import json
    import subprocess

    if KUBECTL is None:
        return 0
    out = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        return int(json.loads(out.stdout)["clientVersion"]["minor"].rstrip("+"))
    except (ValueError, KeyError):
        return 0


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        import json
        return json.loads(self.body)


@pytest.fixture(scope="session")
async def http(kube: KubeLab):
    """`await http("GET", "/api/v1/nodes", token=..., json=..., headers=...)` → Reply: raw HTTPS requests
    (for what the typed client refuses to send)."""
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=kube.ca.client_context()))

    async def request(method: str, path: str, *, token: str | None = "admin", json=None, data=None,
                      headers: dict | None = None) -> Reply:
        h = dict(headers or {})
        if token == "admin":
            token = kube.admin_token
        if token:
            h["Authorization"] = f"Bearer {token}"
        async with session.request(method, kube.url + path, json=json, data=data, headers=h) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    yield request
    await session.close()
