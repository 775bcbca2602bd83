"""`workload_smoke`: prove a Ready Windows node actually works — service discovery and cross-OS HTTP — with
throw-away workloads in a namespace of their own (runbook Step ⑤, made repeatable and self-cleaning)."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes.aio import client as kclient
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks import KubernetesCluster

from prefect_windows_nodes.tasks._verify import manifests as m
from prefect_windows_nodes.tasks._verify.manifests import SmokeImages
from prefect_windows_nodes.tasks._verify.probes import ProbeResult, probe_dns, probe_http, settle
from prefect_windows_nodes.tasks._core.results import StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks._verify.testbed import Testbed, inspect_node, testbed
from prefect_windows_nodes.tasks._verify.report import ProgressArtifact, artifact_key, conclude
from prefect_windows_nodes.tasks._verify.workload_wait import SmokeDeadlines

# (source workload, target service, check) — the runbook's checks plus DNS and HTTP from the Windows side.
SMOKE_CHECKS: list[tuple[str, str, str]] = [
    (m.NETSHOOT, m.NGINX_SVC, "dns"),
    (m.NETSHOOT, m.IIS_SVC, "dns"),
    (m.IIS, m.NGINX_SVC, "dns"),
    (m.IIS, m.IIS_SVC, "dns"),
    (m.NETSHOOT, m.NGINX_SVC, "http"),
    (m.NETSHOOT, m.IIS_SVC, "http"),
    (m.IIS, m.NGINX_SVC, "http"),
]


def expected_for(check: str, cluster_ip: str) -> str:
    """The expected outcome of a smoke check, as the table shows it."""
    return f"resolves to {cluster_ip}" if check == "dns" else "HTTP 200"


def passed(result: ProbeResult, cluster_ip: str) -> bool:
    """DNS passes when the Service's ClusterIP is among the answers; HTTP on a 200."""
    if result.check == "dns":
        return result.ok and cluster_ip in [a.strip() for a in result.observed.split(",")]
    return result.ok


async def run_smoke_checks(api: kclient.ApiClient, bed: Testbed, exec_timeout_s: float,
                           settle_s: float = 0.0) -> list[dict[str, Any]]:
    """Run SMOKE_CHECKS concurrently, each retried for up to `settle_s` while it fails (kube-proxy may not have
    programmed the new Services yet); one table row per check (source, target, check, expected, observed, pass)."""
    async def one(source: str, target: str, check: str) -> dict[str, Any]:
        src = bed.endpoint(source)
        fn = probe_dns if check == "dns" else probe_http
        ip = bed.cluster_ips.get(target, "")

        async def attempt() -> ProbeResult:
            r = await fn(api, src, target, timeout_s=exec_timeout_s)
            return r if passed(r, ip) else ProbeResult(r.source, r.target, r.check, False, r.observed, r.detail)

        result = await settle(attempt, want_ok=True, settle_s=settle_s)
        return {"source": f"{source} ({src.os})", "target": target, "check": check,
                "expected": expected_for(check, ip), "observed": result.observed, "pass": passed(result, ip)}

    return list(await asyncio.gather(*(one(*c) for c in SMOKE_CHECKS)))


def _fix(row: dict[str, Any], node_name: str) -> str:
    windows_side = row["source"].startswith(m.IIS) or row["target"] == m.IIS_SVC
    if row["check"] == "dns":
        hint = ("DNS from Windows pods needs `-DNSServerIPs` = the kube-dns ClusterIP and `-ServiceCidr` = the "
                "service range in the Calico install") if row["source"].startswith(m.IIS) else \
            "Check CoreDNS (kube-system/kube-dns) and the Service"
        return f"{hint}; see calico-windows §6 (DNS fails from Windows pods)."
    if windows_side:
        return (f"Traffic to or from node {node_name} failed: check VXLAN (UDP 4789, VNI ≥ 4096) between the "
                "nodes, the HNS endpoint Calico_ep and kube-proxy on the node (ClusterIPs), and the firewall.")
    return "Linux-to-Linux traffic failed: check calico-node and kube-proxy on the Linux nodes."


@task(name="workload_smoke", retries=2, retry_delay_seconds=[5, 15], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def workload_smoke(cluster: KubernetesCluster, node_name: str, *, images: SmokeImages | None = None,
                         keep: bool = False, deadlines: SmokeDeadlines | None = None, settle_s: float = 20.0,
                         plan: bool = False) -> StepResult:
    """Deploy netshoot (Linux), nginx + nginx-svc (Linux) and IIS + iis-svc pinned to Windows node `node_name`
    into a new namespace `win-smoke-*`, wait for them with watches, and check DNS of both Services from the Linux
    and the IIS pod and HTTP 200 Linux → nginx, Linux → IIS, IIS → nginx.

    The IIS image is chosen from the node's `node.kubernetes.io/windows-build` label (ltsc2019 / ltsc2022) unless
    `images.iis` is set. A pod that cannot start fails the step at once with the reason from its status or events
    (e.g. "The container operating system does not match the host operating system"). The namespace is deleted
    and watched until gone on every outcome, cancellation included, unless `keep`. Inside a run it writes a
    progress artifact `smoke-progress-<node>` while waiting and a table artifact `smoke-<node>`.

    Args:
        cluster: the cluster.
        node_name: the Windows node to verify (Ready, already joined).
        images: image overrides (private registries, a specific IIS image).
        keep: leave the namespace and workloads in place for inspection.
        deadlines: per-phase deadlines (scheduled, started, ready, exec, cleanup).
        settle_s: how long a failing check is retried (new Services take a moment to be programmed on Windows).
        plan: report what would be deployed and checked; create nothing.

    Returns:
        StepResult "unchanged" when every check passed (the cluster is left as found); facts: namespace, IIS
        image, Windows build; checks: the node, workloads-ready, one per smoke check, cleanup.

    Raises:
        StepFailed: a check failed; the result holds every check (the table) and, for workloads that could not
            start, the diagnosis.

    Example:
        ```python
        from prefect_windows_nodes.blocks import KubernetesCluster
        from prefect_windows_nodes.tasks.workload_smoke import workload_smoke

        result = await workload_smoke(KubernetesCluster.load("BLOCK_NAME"), "k8s-ww")
        ```
    """
    images = images or SmokeImages()
    deadlines = deadlines or SmokeDeadlines()
    rec = StepRecorder("workload_smoke", target=node_name, plan=plan)
    logger = get_run_logger()
    async with cluster.get_client() as api:
        build = await inspect_node(api, rec, node_name, plan=plan)
        if plan:
            rec.fact("iis_image", _safe_iis_image(images, build))
            rec.change(f"deploy netshoot, nginx + {m.NGINX_SVC} and IIS + {m.IIS_SVC} (on {node_name}) into a new "
                       f"namespace win-smoke-*, run {len(SMOKE_CHECKS)} DNS/HTTP checks, delete the namespace")
            return rec.result()
        progress = ProgressArtifact(artifact_key("smoke-progress", node_name), f"Smoke workloads on {node_name}")
        rows: list[dict[str, Any]] = []
        async with testbed(api, rec, node_name, build, images=images, deadlines=deadlines, keep=keep,
                           generate_name="win-smoke-", progress=progress) as bed:
            if bed is not None:
                logger.info("smoke workloads Ready in %s; running %d checks", bed.namespace, len(SMOKE_CHECKS))
                rows = await run_smoke_checks(api, bed, deadlines.exec_s, settle_s)
                for row in rows:
                    rec.check(f"{row['check']} {row['source'].split(' ')[0]} → {row['target']}", row["pass"],
                              observed=row["observed"], expected=row["expected"],
                              fix=_fix(row, node_name))
    return await conclude(rec, logger, artifact_key("smoke", node_name), rows,
                          f"Workload smoke checks on {node_name} ({rec.facts.get('namespace', '')})")


def _safe_iis_image(images: SmokeImages, build: str | None) -> str:
    try:
        return m.iis_image(images, build)
    except m.UnknownWindowsBuild as exc:
        return f"(unknown: {exc})"
