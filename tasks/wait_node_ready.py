"""`wait_node_ready`: WATCH the Node until it is Ready (no polling), with a deadline and a diagnosis on timeout."""

from __future__ import annotations

from kubernetes.aio import client as kclient
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks import JoinSettings, KubernetesCluster, WindowsHost
from prefect_windows_nodes.tasks._core.results import StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks._host.node_state import read_log_tail
from prefect_windows_nodes.tasks._kube.nodes import describe_conditions, node_facts, node_ready, recent_events
from prefect_windows_nodes.tasks._kube.watch import watch_until


# NO_CACHE: every run must really look at the host and cluster (and the inputs hold secrets).
@task(name="wait_node_ready", retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def wait_node_ready(cluster: KubernetesCluster, node_name: str, settings: JoinSettings | None = None, *,
                          host: WindowsHost | None = None, plan: bool = False) -> StepResult:
    """Watch Node `node_name` (the lowercased hostname) until its Ready condition is True.

    Args:
        cluster: the cluster.
        node_name: the node to wait for.
        settings: JoinSettings; `node_ready_timeout_s` is the deadline.
        host: the Windows host; when given, a timeout report includes its kubelet and Calico log tails.
        plan: only report whether the node is Ready now (no waiting).

    Returns:
        StepResult "unchanged" when the node was already Ready, "changed" when it became Ready during the wait,
        "planned" (plan mode, not Ready yet). Facts: kubelet version, OS image, internal IP, runtime.

    Raises:
        StepFailed: not Ready by the deadline; the result carries the conditions, recent events and log tails.

    Example:
        ```python
        from prefect_windows_nodes.blocks import KubernetesCluster
        from prefect_windows_nodes.tasks import wait_node_ready

        result = await wait_node_ready(KubernetesCluster.load("BLOCK_NAME"), "k8s-ww")
        ```
    """
    timeout_s = (settings or JoinSettings()).node_ready_timeout_s
    rec = StepRecorder("wait_node_ready", target=node_name, plan=plan)
    rec.fact("node_name", node_name)
    async with cluster.get_client() as api:
        core = kclient.CoreV1Api(api)
        listing = await core.list_node(field_selector=f"metadata.name={node_name}")
        last = api.sanitize_for_serialization(listing.items[0]) if listing.items else None
        ready = last if node_ready(last) else None
        if ready is None and not plan:
            ready, last = await watch_until(api, core.list_node, node_ready, name=node_name, timeout_s=timeout_s)
            if ready is not None:
                rec.change(f"Node {node_name} became Ready after {rec.elapsed:.1f}s")
                get_run_logger().info("Node %s is Ready (after %.1fs)", node_name, rec.elapsed)
        if ready is not None:
            for k, v in node_facts(ready).items():
                rec.fact(k, v)
            rec.check("node-ready", True, observed=describe_conditions(ready), expected="Ready=True")
            return rec.result()
        if plan:
            rec.change(f"wait up to {timeout_s:g}s for Node {node_name} to become Ready")
            rec.fact("conditions", describe_conditions(last))
            return rec.result()

        rec.check("node-ready", False, observed=describe_conditions(last), expected=f"Ready=True within {timeout_s:g}s",
                  fix="See the events and the kubelet/Calico log tails in this report.")
        try:
            events = await recent_events(api, node_name)
        except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the timeout
            events = [f"(events unavailable: {type(exc).__name__})"]
        rec.fact("events", "\n".join(events) or "(none)")
    if host is not None:
        try:
            async with host.open_session() as ps:
                for k, v in (await read_log_tail(ps, 30)).items():
                    rec.fact(f"log_{k}", v)
        except Exception as exc:  # noqa: BLE001
            rec.fact("logs", f"(host logs unavailable: {type(exc).__name__})")
    rec.raise_if_failed()
    raise AssertionError("unreachable: the node-ready check failed")
