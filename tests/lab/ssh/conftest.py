"""Fixtures for the SSH control plane tests.

- `kube` / `cp`: the real Kubernetes lab (`KubeLab`, `default` scenario: the runbook's starting point) with the
  control plane's SSH server on it; `etcd_kube` / `etcd_cp` the same for the `etcd` scenario.
- `fake_kube` / `fake_cp`: a small stand-in with only what `ControlPlaneSSH` uses of a KubeLab (`.store` with the
  Calico CRDs, `.kubeconfig_path`, `.ca`), seeded by hand, for calicoctl's output and error details where the
  exact input objects matter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.clock import LabClock
from lab.kube.cluster import KubeLab
from lab.kube.resources import BUILTIN, CALICO_CRDS, CALICO_GROUP, Registry
from lab.kube.store import Store
from lab.shell import Result
from lab.ssh import ControlPlaneSSH
from lab.tls import LabCA

POOL = "default-ipv4-ippool"


def calico_seed() -> list[tuple[str, dict]]:
    """(plural, crd.projectcalico.org/v1 object) of the runbook's starting point, as calico.yaml leaves it."""
    return [
        ("ippools", {"metadata": {"name": POOL},
                     "spec": {"blockSize": 26, "cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": True,
                              "nodeSelector": "all()", "vxlanMode": "Never"}}),
        ("felixconfigurations", {"metadata": {"name": "default"},
                                 "spec": {"bpfLogLevel": "", "ipipEnabled": True, "logSeverityScreen": "Info",
                                          "reportingInterval": "0s"}}),
        ("clusterinformations", {"metadata": {"name": "default"},
                                 "spec": {"calicoVersion": "v3.22.1", "clusterGUID": "5ba4e4f38f7c4d2b",
                                          "clusterType": "k8s,bgp,kubeadm,kdd", "datastoreReady": True}}),
    ]


class FakeKube:
    """What the SSH control plane needs of a KubeLab, for tests that must not depend on the API server."""

    def __init__(self, state_dir: Path) -> None:
        self.scenario = "default"
        self.ca = LabCA(state_dir)
        self.kubeconfig_path = state_dir / "kubeconfig"
        self.kubeconfig_path.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
            "  name: kubernetes\nusers:\n- name: kubernetes-admin\n  user:\n    token: lab-admin-token-123\n"
            "contexts:\n- context: {cluster: kubernetes, user: kubernetes-admin}\n  name: admin\n"
            "current-context: admin\n")
        self.kubeconfig_path.chmod(0o600)
        self.registry = Registry(BUILTIN + CALICO_CRDS)
        self.store = Store(self.registry)
        ns_rt = self.registry.get("", "namespaces")
        for ns in ("default", "kube-system"):
            self.store.create(ns_rt, {"metadata": {"name": ns}})
        for plural, obj in calico_seed():
            self.store.create(self.registry.get(CALICO_GROUP, plural), obj)

    def add_pod(self, name: str, ip: str, *, host_network: bool = False, node: str = "k8s-lw") -> None:
        self.store.create(self.registry.get("", "pods"), {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "hostNetwork": host_network, "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running", "podIP": ip}})


@pytest.fixture
def fake_kube(tmp_path: Path) -> FakeKube:
    return FakeKube(tmp_path)


@pytest.fixture
async def fake_cp(fake_kube: FakeKube, tmp_path: Path):
    """A running control plane over the hand-seeded stand-in."""
    server = await ControlPlaneSSH.start(fake_kube, state_dir=tmp_path)
    yield server
    await server.stop()


async def _kubelab(scenario: str, state_dir: Path):
    kube = await KubeLab.start(scenario=scenario, state_dir=state_dir, clock=LabClock(0.01), ca=LabCA(state_dir))
    try:
        server = await ControlPlaneSSH.start(kube, state_dir=state_dir)
    except BaseException:
        await kube.stop()
        raise
    return kube, server


@pytest.fixture
async def lab_default(tmp_path: Path):
    kube, server = await _kubelab("default", tmp_path)
    yield kube, server
    await server.stop()
    await kube.stop()


@pytest.fixture
async def lab_etcd(tmp_path: Path):
    kube, server = await _kubelab("etcd", tmp_path)
    yield kube, server
    await server.stop()
    await kube.stop()


@pytest.fixture
def kube(lab_default):
    """The Kubernetes lab in the runbook's starting state."""
    return lab_default[0]


@pytest.fixture
def cp(lab_default) -> ControlPlaneSSH:
    """k8s-m's SSH server on `kube`."""
    return lab_default[1]


@pytest.fixture
def etcd_kube(lab_etcd):
    return lab_etcd[0]


@pytest.fixture
def etcd_cp(lab_etcd) -> ControlPlaneSSH:
    return lab_etcd[1]


async def sh(cp: ControlPlaneSSH, command: str, stdin: bytes = b"") -> Result:
    """Run a command line in-process, exactly as an exec request would run it."""
    return await cp.run(command, stdin)


def text(r: Result) -> str:
    return r.stdout.decode()

