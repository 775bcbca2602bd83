"""`netpol_verify`: prove that Calico enforces NetworkPolicy — on the Linux side (the runbook's policy) AND on the
Windows node itself (a policy selecting the IIS pod), with the state before the policies as the baseline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kubernetes.aio import client as kclient
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks import KubernetesCluster

from prefect_windows_nodes.tasks._verify import manifests as m
from prefect_windows_nodes.tasks._kube.objects import create_objects
from prefect_windows_nodes.tasks._verify.manifests import SmokeImages
from prefect_windows_nodes.tasks._verify.probes import ProbeResult, probe_http, settle
from prefect_windows_nodes.tasks._core.results import StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks._verify.testbed import SERVICES, WORKLOADS, Testbed, inspect_node, testbed
from prefect_windows_nodes.tasks._verify.report import ProgressArtifact, artifact_key, conclude
from prefect_windows_nodes.tasks._verify.workload_wait import SmokeDeadlines


@dataclass(frozen=True)
class Case:
    """One row of the matrix: HTTP from `source` to `target` must be allowed before the policies, and
    `allowed_after` once `policy` (which selects the target's pods) is in place."""

    source: str
    target: str
    policy: str
    allowed_after: bool


MATRIX: list[Case] = [
    Case(m.IIS, m.NGINX_SVC, m.NGINX_POLICY, True),           # runbook: IIS → nginx allowed
    Case(m.NETSHOOT, m.NGINX_SVC, m.NGINX_POLICY, False),     # runbook: netshoot → nginx denied (Linux side)
    Case(m.IIS_CLIENT, m.IIS_SVC, m.IIS_POLICY, True),        # labelled client → IIS allowed
    Case(m.NETSHOOT, m.IIS_SVC, m.IIS_POLICY, False),         # unlabelled → IIS denied: enforced on Windows
]


def word(allowed: bool) -> str:
    """`allowed` or `denied`."""
    return "allowed" if allowed else "denied"


def observed_word(r: ProbeResult) -> str:
    """What a probe saw, for the matrix: `allowed (HTTP 200)` or `denied (<why>)`."""
    return f"allowed ({r.observed})" if r.ok else f"denied ({r.observed})"


async def probe_until(api: kclient.ApiClient, bed: Testbed, case: Case, want_allowed: bool, *, settle_s: float,
                      exec_timeout_s: float) -> ProbeResult:
    """Probe `case` until the outcome is `want_allowed` or `settle_s` passed (Felix programs a new policy
    asynchronously; a deny probe itself waits out curl's 5 s timeout)."""
    return await settle(lambda: probe_http(api, bed.endpoint(case.source), case.target, timeout_s=exec_timeout_s),
                        want_ok=want_allowed, settle_s=settle_s)


def enforcement_note(case: Case, node: str, node_os: str) -> str:
    """What a deny case that let traffic through means."""
    if node_os == "windows":
        return (f"NetworkPolicy enforcement is missing on Windows node {node}: the IIS pod there accepted traffic "
                f"that {case.policy} denies — Calico Felix (service CalicoFelix) is not running or not enforcing "
                "on that node")
    return (f"NetworkPolicy enforcement is missing on node {node}: the {SERVICES[case.target]} pod there "
            f"accepted traffic that {case.policy} denies (calico-node/Felix on that node)")


def enforcement_fix(node: str, node_os: str) -> str:
    """How to restore enforcement on `node`."""
    if node_os == "windows":
        return (f"On {node}: `Get-Service CalicoFelix`; start it (`Start-Service CalicoFelix`) and read "
                r"C:\CalicoWindows\logs\calico-felix.log; Felix must run for policies to be enforced there.")
    return f"Check the calico-node pod on {node} (Felix) and its logs."


@task(name="netpol_verify", retries=2, retry_delay_seconds=[5, 15], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def netpol_verify(cluster: KubernetesCluster, node_name: str, *, images: SmokeImages | None = None,
                        keep: bool = False, deadlines: SmokeDeadlines | None = None, settle_s: float = 20.0,
                        plan: bool = False) -> StepResult:
    """Verify NetworkPolicy enforcement around Windows node `node_name` with a policy matrix.

    In a new namespace `win-netpol-*` it deploys the smoke workloads plus `iis-client` (netshoot labelled
    `role=iis-client`), checks every case before any policy (all allowed), then applies the runbook's
    `allow-nginx-ingress-from-iis` (IIS → nginx allowed, netshoot → nginx denied: enforced on the Linux node) and
    `allow-iis-ingress-from-clients` (selects the IIS pod: iis-client → IIS allowed, netshoot → IIS denied:
    enforced on the Windows node) and checks each case against its expectation. A deny case that lets traffic
    through is reported as missing enforcement on the destination's node (on Windows: Felix not running there).
    Everything it created is removed (the namespace, watched until gone) unless `keep`. Inside a run it writes a
    table artifact `netpol-<node>`.

    Args:
        cluster: the cluster.
        node_name: the Windows node to verify.
        images: image overrides.
        keep: leave the namespace, workloads and policies in place.
        deadlines: per-phase deadlines of the workloads.
        settle_s: how long a case may take to show its expected outcome (Services and policies are programmed
            asynchronously) before it counts as failed.
        plan: report what would be done; create nothing.

    Returns:
        StepResult "unchanged" when the matrix matches; checks: one per case (and baseline), cleanup; fact
        `enforcement_missing_on` when a deny was not enforced.

    Raises:
        StepFailed: a case did not match; the result holds the whole matrix.

    Example:
        ```python
        from prefect_windows_nodes.blocks import KubernetesCluster
        from prefect_windows_nodes.tasks.netpol_verify import netpol_verify

        result = await netpol_verify(KubernetesCluster.load("BLOCK_NAME"), "k8s-ww")
        ```
    """
    images = images or SmokeImages()
    deadlines = deadlines or SmokeDeadlines()
    rec = StepRecorder("netpol_verify", target=node_name, plan=plan)
    logger = get_run_logger()
    rows: list[dict[str, Any]] = []
    async with cluster.get_client() as api:
        build = await inspect_node(api, rec, node_name, plan=plan)
        if plan:
            rec.change(f"deploy the smoke workloads and iis-client into a new namespace win-netpol-*, check "
                       f"{len(MATRIX)} cases before and after policies {m.NGINX_POLICY} and {m.IIS_POLICY}, "
                       "delete the namespace")
            return rec.result()
        progress = ProgressArtifact(artifact_key("netpol-progress", node_name), f"Policy workloads on {node_name}")
        async with testbed(api, rec, node_name, build, images=images, deadlines=deadlines, keep=keep,
                           generate_name="win-netpol-", with_client=True, progress=progress) as bed:
            if bed is not None:
                rows = await run_matrix(api, bed, rec, settle_s=settle_s, exec_timeout_s=deadlines.exec_s)
    return await conclude(rec, logger, artifact_key("netpol", node_name), rows,
                          f"NetworkPolicy matrix on {node_name} ({rec.facts.get('namespace', '')})")


async def run_matrix(api: kclient.ApiClient, bed: Testbed, rec: StepRecorder, *, settle_s: float,
                     exec_timeout_s: float) -> list[dict[str, Any]]:
    """Check MATRIX before and after the policies; record one check per case; return the table rows."""
    before = await asyncio.gather(*(probe_until(api, bed, c, True, settle_s=settle_s, exec_timeout_s=exec_timeout_s)
                                    for c in MATRIX))
    baseline_ok = all(r.ok for r in before)
    for case, r in zip(MATRIX, before):
        if not r.ok:
            rec.check(f"baseline {case.source} → {case.target}", False, observed=observed_word(r),
                      expected="allowed (no policy yet)",
                      fix="Without any policy this traffic must flow: run workload_smoke to find the broken path.")
    if not baseline_ok:
        # Denials after the policies would prove nothing: traffic did not flow to begin with.
        return [_row(bed, c, b, None, False) for c, b in zip(MATRIX, before)]

    await create_objects(api, bed.namespace, m.policies())
    after = await asyncio.gather(*(probe_until(api, bed, c, c.allowed_after, settle_s=settle_s,
                                               exec_timeout_s=exec_timeout_s) for c in MATRIX))
    rows = []
    missing: list[str] = []
    for case, b, a in zip(MATRIX, before, after):
        ok = a.ok == case.allowed_after
        target = SERVICES[case.target]
        node, node_os = bed.node_of(target), WORKLOADS[target].os
        observed = observed_word(a)
        fix = ""
        if not ok and not case.allowed_after:
            note = enforcement_note(case, node, node_os)
            observed += f": {note}"
            fix = enforcement_fix(node, node_os)
            if node not in missing:
                missing.append(node)
        elif not ok:
            fix = f"{case.policy} should admit {case.source}: check its podSelector/ingress and the pod labels."
        rec.check(f"{case.policy}: {case.source} → {case.target} {word(case.allowed_after)}", ok,
                  observed=observed, expected=f"{word(case.allowed_after)} (before: {observed_word(b)})", fix=fix)
        rows.append(_row(bed, case, b, a, ok))
    if missing:
        rec.fact("enforcement_missing_on", ", ".join(missing))
    return rows


def _row(bed: Testbed, case: Case, before: ProbeResult, after: ProbeResult | None, ok: bool) -> dict[str, Any]:
    target = SERVICES[case.target]
    return {"source": case.source, "target": case.target, "policy": case.policy,
            "enforced on": f"{bed.node_of(target)} ({WORKLOADS[target].os})",
            "expected before": "allowed", "observed before": observed_word(before),
            "expected after": word(case.allowed_after),
            "observed after": observed_word(after) if after is not None else "(not checked)", "pass": ok}
