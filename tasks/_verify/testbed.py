"""A throw-away namespace holding the smoke workloads, as one unit: check the node under test, create the
namespace and the workloads, wait until they are Ready, and delete everything again — always, even on
cancellation — unless asked to keep it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from prefect_windows_nodes.tasks._verify import manifests as m
from prefect_windows_nodes.tasks._kube.objects import copy_pull_secrets, create_namespace, create_objects, delete_namespace, shielded
from prefect_windows_nodes.tasks._verify.podstatus import OS_MISMATCH, PULL_WAITING
from prefect_windows_nodes.tasks._verify.probes import Endpoint
from prefect_windows_nodes.tasks._core.results import StepRecorder
from prefect_windows_nodes.tasks._verify.workload_wait import (Progress, ServiceWait, SmokeDeadlines, Workload, WorkloadFailed,
                            wait_for_workloads)


@dataclass(frozen=True)
class WorkloadSpec:
    """A smoke workload as deployed: its name, the label selecting its pods, and the OS it runs on."""

    name: str
    selector: dict[str, str]
    os: str


WORKLOADS = {
    m.NETSHOOT: WorkloadSpec(m.NETSHOOT, {"run": m.NETSHOOT}, "linux"),
    m.IIS_CLIENT: WorkloadSpec(m.IIS_CLIENT, {"run": m.IIS_CLIENT}, "linux"),
    m.NGINX: WorkloadSpec(m.NGINX, {"run": m.NGINX}, "linux"),
    m.IIS: WorkloadSpec(m.IIS, {"run": m.IIS}, "windows"),
}
SERVICES = {m.NGINX_SVC: m.NGINX, m.IIS_SVC: m.IIS}  # Service → the workload behind it


@dataclass
class Testbed:
    """The deployed, Ready workloads: their namespace, pods (by workload name) and Service ClusterIPs."""

    namespace: str
    node_name: str
    iis_image: str
    pods: dict[str, dict[str, Any]]
    cluster_ips: dict[str, str]

    def endpoint(self, workload: str) -> Endpoint:
        """Where to run a probe from: the Ready pod of `workload`."""
        pod = self.pods[workload]
        return Endpoint(self.namespace, pod["metadata"]["name"], WORKLOADS[workload].os, workload)  # type: ignore[arg-type]

    def node_of(self, workload: str) -> str:
        """The node the Ready pod of `workload` runs on."""
        return str((self.pods[workload].get("spec") or {}).get("nodeName") or "")


async def inspect_node(api: kclient.ApiClient, rec: StepRecorder, node_name: str, *, plan: bool = False) -> str | None:
    """Check the node under test exists, is a Windows node and is Ready; record its OS and Windows build.

    Returns the `node.kubernetes.io/windows-build` label (None when absent). In plan mode the node may not be
    joined yet: only facts are recorded (`node_state`), no checks.

    Raises:
        StepFailed: (not in plan mode) the node is missing, not Windows, or not Ready.
    """
    core = kclient.CoreV1Api(api)
    try:
        node = api.sanitize_for_serialization(await core.read_node(node_name))
    except ApiException as exc:
        if exc.status != 404:
            raise
        if plan:
            rec.fact("node_state", "not registered yet")
            return None
        rec.check("node-found", False, observed=f"no Node {node_name}", expected="the node is registered",
                  fix="Join the node first (join_windows_node), or pass the node name as `kubectl get nodes` shows "
                      "it (the lowercased hostname).")
        rec.raise_if_failed()
        raise
    labels = (node.get("metadata") or {}).get("labels") or {}
    os_name = labels.get(m.OS_LABEL, "")
    build = labels.get(m.WINDOWS_BUILD_LABEL)
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})
    rec.fact("node_os", os_name)
    rec.fact("windows_build", build)
    if plan:
        rec.fact("node_state", "Ready" if ready.get("status") == "True" else "not Ready")
        return build
    rec.check("node-windows", os_name == "windows", observed=f"{m.OS_LABEL}={os_name or '(none)'}",
              expected=f"{m.OS_LABEL}=windows",
              fix="This verification is for Windows nodes: pass the name of a Windows node.")
    rec.check("node-ready", ready.get("status") == "True",
              observed=f"Ready={ready.get('status', 'Unknown')} {ready.get('message') or ''}".strip(),
              expected="Ready=True", fix="Wait for the node to become Ready (wait_node_ready) before verifying it.")
    rec.raise_if_failed()
    return build


def fix_for(exc: WorkloadFailed, node_name: str, build: str | None, image: str) -> str:
    """How to fix a workload that failed to start, by what the failure says."""
    low = exc.message.lower()
    if OS_MISMATCH in low:
        try:
            want = m.iis_tag_for_build(build)
        except m.UnknownWindowsBuild:
            want = "the tag matching the node's build"
        return (f"The IIS image {image} targets another Windows build than node {node_name} "
                f"({m.WINDOWS_BUILD_LABEL}={build}): use a {want} image, or leave images.iis empty to choose it "
                "from the node's build.")
    if "strict affinity" in low or "strictaffinity" in low:
        return ("Calico IPAM refuses Windows pods while strictAffinity is false: run calico_reconfigure (or "
                "`calicoctl ipam configure --strictaffinity=true`).")
    if "ipam" in low:
        return "Calico IPAM could not give the pod an address: check the IP pool, block affinities and calico logs."
    if any(r in exc.message for r in PULL_WAITING) or "pull" in low:
        return ("Check the image reference and that the node can pull it; for a private registry override the "
                "images (SmokeImages) and name image pull Secrets.")
    if exc.phase == "scheduled":
        return (f"Check that node {node_name} is Ready and schedulable, and that a schedulable Linux node exists "
                "for the Linux workloads; see the FailedScheduling events in the diagnosis.")
    if exc.phase == "started" and exc.timed_out:
        return ("Windows images are several GB: raise deadlines.windows_start_s or pre-pull the image on the node; "
                "see the events in the diagnosis.")
    if exc.phase == "endpoints":
        return "The Service has no ready endpoint: check the pods' readiness and the Service selector."
    return "See the pod status and events in the diagnosis."


@contextlib.asynccontextmanager
async def testbed(api: kclient.ApiClient, rec: StepRecorder, node_name: str, build: str | None, *,
                  images: m.SmokeImages, deadlines: SmokeDeadlines, keep: bool, generate_name: str,
                  with_client: bool = False, progress: Progress | None = None) -> AsyncIterator[Testbed | None]:
    """Deploy the smoke workloads into a new namespace and wait until they are Ready; yield the `Testbed`, or
    None when they could not start (the failure is recorded in `rec` as a failed check with a fix and diagnosis).

    On exit the namespace is deleted and watched until gone (check `cleanup`), whatever happened — failure,
    timeout or cancellation (the deletion is shielded) — unless `keep` (fact `kept_namespace`).
    """
    try:
        image = m.iis_image(images, build)
    except m.UnknownWindowsBuild as exc:
        rec.check("iis-image", False, observed=str(exc), expected="an IIS image for the node's Windows build",
                  fix="Set images.iis to an IIS image built for the node's Windows version.")
        rec.raise_if_failed()
        raise
    rec.fact("iis_image", image)
    objs = m.smoke_workloads(node_name, build, images, with_client=with_client)
    specs = [WORKLOADS[m.NETSHOOT]] + ([WORKLOADS[m.IIS_CLIENT]] if with_client else []) + [
        WORKLOADS[m.NGINX], WORKLOADS[m.IIS]]
    ns: str | None = None
    try:
        ns = await create_namespace(api, m.namespace(node_name, generate_name=generate_name))
        rec.fact("namespace", ns)
        if images.image_pull_secrets:
            await copy_pull_secrets(api, images.image_pull_secrets, images.pull_secret_namespace, ns)
        created = await create_objects(api, ns, objs)
        cluster_ips = {o["metadata"]["name"]: (o.get("spec") or {}).get("clusterIP") or ""
                       for o in created if o.get("kind") == "Service"}
        workloads = [Workload(s.name, dict(s.selector), s.os) for s in specs]
        waits = [ServiceWait(svc, backing) for svc, backing in SERVICES.items()]
        try:
            pods = await wait_for_workloads(api, ns, workloads, waits, deadlines, progress)
        except WorkloadFailed as exc:
            rec.check(f"{exc.workload}-{exc.phase}", False, observed=exc.message,
                      expected=f"{exc.workload} {exc.phase}" + (f" within {exc.phase} deadline" if exc.timed_out
                                                                else ""),
                      fix=fix_for(exc, node_name, build, image))
            rec.fact("diagnosis", exc.diagnosis)
            bed = None
        else:
            rec.check("workloads-ready", True, observed=", ".join(
                f"{name} on {(p.get('spec') or {}).get('nodeName')}" for name, p in pods.items()),
                expected="every pod Ready, every Service with an endpoint")
            bed = Testbed(ns, node_name, image, pods, cluster_ips)
        yield bed
    finally:
        if ns is not None:
            if keep:
                rec.fact("kept_namespace", ns)
            else:
                name = ns
                gone = await shielded(lambda: delete_namespace(api, name, timeout_s=deadlines.cleanup_s))
                rec.check("cleanup", gone, observed=f"namespace {name} " + ("deleted" if gone else
                          f"still terminating after {deadlines.cleanup_s:g}s"), expected="namespace gone",
                          fix=f"Look for finalizers blocking `kubectl delete namespace {name}`.")
