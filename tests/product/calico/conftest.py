"""Fixtures for the calico/blocks product tests: a fresh lab per test (scenario by name), and the product blocks
built from what the lab publishes (`Lab.describe()`), exactly as a user would build them from lab.json."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

import pytest

from prefect_windows_nodes.blocks import ControlPlaneSSH, KubernetesCluster


def _lab_available() -> bool:
    try:
        import lab.kube.cluster  # noqa: F401
        import lab.kube.scenarios  # noqa: F401
        import lab.ssh  # noqa: F401
        from lab.world import Lab  # noqa: F401
    except ImportError:
        return False
    return True


LAB_AVAILABLE = _lab_available()
needs_lab = pytest.mark.skipif(not LAB_AVAILABLE, reason="lab.kube.cluster / lab.ssh not in the tree yet")


@contextlib.asynccontextmanager
async def running_lab(scenario: str, state_dir: Path, *, ssh: bool = False) -> AsyncIterator:
    """A started lab with no Windows hosts (this part only talks to the control plane)."""
    from lab.world import Lab

    async with Lab(scenario, state_dir, windows=0, ssh=ssh) as lab:
        yield lab


@pytest.fixture
def lab_factory(tmp_path):
    """`async with lab_factory("etcd", ssh=True) as lab:` — one fresh lab per use, state under tmp_path."""
    counter = iter(range(100))

    def make(scenario: str = "default", *, ssh: bool = False):
        return running_lab(scenario, tmp_path / f"{scenario}-{next(counter)}", ssh=ssh)

    return make


def cluster_block(lab) -> KubernetesCluster:
    """The KubernetesCluster block for the lab's admin kubeconfig."""
    return KubernetesCluster.from_file(lab.describe()["kubeconfig"])


def ssh_block(lab) -> ControlPlaneSSH:
    """The ControlPlaneSSH block for the lab's control plane, host key checked against its known_hosts."""
    info = lab.describe()["control_plane_ssh"]
    return ControlPlaneSSH(host=info["host"], port=info["port"], username=info["username"],
                           private_key=Path(info["private_key_file"]).read_text(),
                           known_hosts=Path(info["known_hosts_file"]).read_text())


def calico_rt(lab, plural: str, *, etcd: bool = False):
    """The lab's ResourceType for a crd.projectcalico.org plural (in the etcd store when `etcd`)."""
    from lab.kube.resources import CALICO_GROUP

    registry = lab.kube.calico_etcd.registry if etcd else lab.kube.registry
    return registry.get(CALICO_GROUP, plural)


def read_calico(lab, plural: str, name: str, *, etcd: bool = False) -> dict | None:
    """A Calico object straight from the lab's store (not through the API under test)."""
    store = lab.kube.calico_etcd if etcd else lab.kube.store
    return store.try_get(calico_rt(lab, plural, etcd=etcd), None, name)


async def wait_for_calico(lab, plural: str, name: str, predicate, *, limit_s: float = 10.0) -> dict:
    """The object once `predicate(obj)` holds, following the store's watch (the limit is only a safety net)."""
    store = lab.kube.store
    rt = calico_rt(lab, plural)
    async with asyncio.timeout(limit_s):
        rv = store.resource_version
        current = store.try_get(rt, None, name)
        if current is not None and predicate(current):
            return current
        async for event in store.watch(rt, None, rv):
            if event.obj["metadata"]["name"] == name and event.type != "DELETED" and predicate(event.obj):
                return event.obj
    raise AssertionError("watch ended")
