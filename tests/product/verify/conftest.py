"""Fixtures for the verification tests: a real lab (`lab.world.Lab`) with a Windows node joined by the product's
own join tasks, and helpers that read what is left in the cluster through the product's client.

The blocks are built only from `Lab.describe()` (what lab.json says), as a user would fill them in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes.aio import client as kclient
from prefect.logging import disable_run_logger

from prefect_windows_nodes.blocks import KubernetesCluster
from prefect_windows_nodes.blocks import JoinSettings
from prefect_windows_nodes.blocks import WindowsHost
from prefect_windows_nodes.tasks._verify.workload_wait import SmokeDeadlines

NODE = "k8s-ww"
# Real seconds; the lab's clock makes emulated pulls and timeouts short, so these only bound a broken run.
FAST = SmokeDeadlines(scheduled_s=30, linux_start_s=30, windows_start_s=60, ready_s=30, exec_s=30, cleanup_s=30)


@dataclass
class Joined:
    """A lab with a joined, Ready Windows node, and the blocks that reach it."""

    lab: Any
    cluster: KubernetesCluster
    host: WindowsHost
    node: str = NODE

    @property
    def windows(self) -> Any:
        return self.lab.windows_host(self.node)

    @property
    def kubelet(self) -> Any:
        """The lab's kubelet model (knobs: set_pull_seconds, set_image_missing)."""
        return self.lab.kube.controllers.kubelet


def lab_blocks(lab: Any, name: str = NODE) -> tuple[WindowsHost, KubernetesCluster]:
    desc = lab.describe()
    h = next(w for w in desc["windows_hosts"] if w["name"] == name)
    url = urlsplit(h["winrm_url"])
    host = WindowsHost(address=url.hostname, port=url.port, use_https=url.scheme == "https",
                       ca_bundle=Path(h["ca_file"]).read_text() if url.scheme == "https" else None,
                       auth=h.get("auth", "ntlm"), username=h["username"], password=h["password"],
                       connection_timeout=5, operation_timeout=5, read_timeout=15)
    return host, KubernetesCluster.from_file(desc["kubeconfig"])


async def join_node(lab: Any, name: str = NODE) -> Joined:
    """Join `name` with the product's join tasks (their `.fn`, in the flow's order)."""
    from prefect_windows_nodes.tasks import (calico_reconfigure, install_calico_windows, install_kube_services,
                                             wait_node_ready, windows_prereqs)

    host, cluster = lab_blocks(lab, name)
    settings = JoinSettings(calico_start_timeout_s=120, node_ready_timeout_s=120)
    with disable_run_logger():
        pre = await windows_prereqs.fn(host, cluster, settings)
        await calico_reconfigure.fn(cluster)
        await install_calico_windows.fn(host, cluster, settings, host_facts=pre.host)
        await install_kube_services.fn(host, settings)
        await wait_node_ready.fn(cluster, name, settings, host=host)
    return Joined(lab, cluster, host, name)


@pytest.fixture(scope="session")
async def joined():
    """One lab for the session with `k8s-ww` (Windows Server 2019) joined. Tests that change the host or the lab's
    knobs put them back."""
    pytest.importorskip("lab.kube.cluster")
    pytest.importorskip("lab.windows.node")
    from lab.world import Lab

    async with Lab(windows=1) as lab:
        yield await join_node(lab)


async def leftovers(cluster: KubernetesCluster) -> list[str]:
    """Everything of ours still in the cluster: namespaces labelled as ours, and any pod, Service, Deployment or
    NetworkPolicy labelled part-of=windows-node-smoke in any namespace."""
    selector = "app.kubernetes.io/part-of=windows-node-smoke"
    found: list[str] = []
    async with cluster.get_client() as api:
        core, apps, net = kclient.CoreV1Api(api), kclient.AppsV1Api(api), kclient.NetworkingV1Api(api)
        for ns in (await core.list_namespace(label_selector=selector)).items:
            found.append(f"namespace/{ns.metadata.name} ({ns.status.phase})")
        for kind, fn in (("pod", core.list_pod_for_all_namespaces), ("service", core.list_service_for_all_namespaces),
                         ("deployment", apps.list_deployment_for_all_namespaces),
                         ("networkpolicy", net.list_network_policy_for_all_namespaces)):
            for o in (await fn(label_selector=selector)).items:
                found.append(f"{kind}/{o.metadata.namespace}/{o.metadata.name}")
    return found


def stuck_iis_image(j: Joined, label: str) -> str:
    """An IIS image for the node's build whose pull never finishes. Each test that cancels during a pull uses its
    own (the lab keeps an abandoned pull in flight, and a later pod of the same image would join it)."""
    image = f"mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019-{label}"
    j.kubelet.set_pull_seconds(image, 1e9, node=j.node)
    return image


def pulling_started(j: Joined, image: str) -> asyncio.Event:
    """An Event set when the kubelet records `Pulling image "<image>"` (watched through the lab's store)."""
    seen = asyncio.Event()

    def on_event(ev: Any) -> None:
        obj = ev.obj or {}
        if ev.rt.plural == "events" and obj.get("reason") == "Pulling" and image in (obj.get("message") or ""):
            seen.set()

    j.lab.kube.store.add_listener(on_event)  # stays registered: setting a set Event is harmless
    return seen
