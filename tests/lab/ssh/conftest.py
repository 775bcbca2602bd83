"""Fixtures for the SSH control plane tests: a small Kubernetes-lab stand-in seeded with the runbook's starting
Calico state (IPIP pool, Felix `ipipEnabled: true`, no IPAMConfig), and a running `ControlPlaneSSH` on it.

The stand-in has what `ControlPlaneSSH` uses of a `KubeLab`: `.store` (the lead's Store with the Calico CRDs),
`.kubeconfig_path`, `.ca` and, for the `etcd` scenario, `.calico_etcd` (a separate store the API never sees).
"""

from __future__ import annotations

from pathlib import Path

import pytest

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

    def __init__(self, state_dir: Path, *, scenario: str = "default") -> None:
        self.scenario = scenario
        self.ca = LabCA(state_dir)
        self.kubeconfig_path = state_dir / "kubeconfig"
        self.kubeconfig_path.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
            "  name: kubernetes\nusers:\n- name: kubernetes-admin\n  user:\n    token: lab-admin-token-123\n"
            "contexts:\n- context: {cluster: kubernetes, user: kubernetes-admin}\n  name: admin\n"
            "current-context: admin\n")
        self.kubeconfig_path.chmod(0o600)
        etcd = scenario == "etcd"
        self.registry = Registry(BUILTIN if etcd else BUILTIN + CALICO_CRDS)
        self.store = Store(self.registry)
        ns_rt = self.registry.get("", "namespaces")
        for ns in ("default", "kube-system"):
            self.store.create(ns_rt, {"metadata": {"name": ns}})
        self.calico_etcd = Store(Registry(CALICO_CRDS)) if etcd else None
        target = self.calico_etcd if etcd else self.store
        for plural, obj in calico_seed():
            target.create(target.registry.get(CALICO_GROUP, plural), obj)

    def add_pod(self, name: str, ip: str, *, host_network: bool = False, node: str = "k8s-lw") -> None:
        self.store.create(self.registry.get("", "pods"), {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "hostNetwork": host_network, "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running", "podIP": ip}})


@pytest.fixture
def fake_kube(tmp_path: Path) -> FakeKube:
    return FakeKube(tmp_path)


@pytest.fixture
def etcd_kube(tmp_path: Path) -> FakeKube:
    return FakeKube(tmp_path, scenario="etcd")


@pytest.fixture
async def cp(fake_kube: FakeKube, tmp_path: Path):
    """A running control plane over the runbook-state stand-in."""
    server = await ControlPlaneSSH.start(fake_kube, state_dir=tmp_path)
    yield server
    await server.stop()


@pytest.fixture
async def etcd_cp(etcd_kube: FakeKube, tmp_path: Path):
    server = await ControlPlaneSSH.start(etcd_kube, state_dir=tmp_path)
    yield server
    await server.stop()


async def sh(cp: ControlPlaneSSH, command: str, stdin: bytes = b"") -> Result:
    """Run a command line in-process, exactly as an exec request would run it."""
    return await cp.run(command, stdin)


def text(r: Result) -> str:
    return r.stdout.decode()

