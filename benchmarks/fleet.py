"""Joining a fleet of lab hosts, C at a time, and timing every host's steps.

Two ways to run one host's join:
- `TaskJoiner`: the join tasks' functions (`task.fn`) in the flow's order, without Prefect's engine (what the
  product itself costs);
- `FlowJoiner`: the `join_windows_node` flow through a Prefect API (what a real run costs: flow and task runs,
  the node lock, the report artifact, events).
`run_phase` runs one joiner over every host and reports wall time, per-step percentiles and what the lab saw.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

# Imported here, not inside the joins: importing Prefect's engine configures logging, which would undo a
# `disable_run_logger()` the caller entered before the first join.
from prefect_windows_nodes.flows.join import JoinRequest, join_windows_node
from prefect_windows_nodes.tasks.calico_reconfigure import calico_reconfigure
from prefect_windows_nodes.tasks.install_calico_windows import install_calico_windows
from prefect_windows_nodes.tasks.install_kube_services import install_kube_services
from prefect_windows_nodes.tasks.wait_node_ready import wait_node_ready
from prefect_windows_nodes.tasks.windows_prereqs import windows_prereqs

from . import counters
from .stats import CpuMeter, summary

#: The join steps, in the order `flows.join.run_join_steps` runs them.
STEPS = ("windows_prereqs", "calico_reconfigure", "install_calico_windows", "install_kube_services",
         "wait_node_ready")


@dataclass
class HostRun:
    """One host's join: seconds per step, each step's status, the total, and the error that stopped it."""

    host: str
    steps_s: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    total_s: float = 0.0
    error: str | None = None
    outcome: str | None = None  # the flow's JoinSummary.outcome (flow mode only)
    flow_run_id: Any = None     # flow mode only
    started_at: float = 0.0     # wall clock (time.time()) when the join was called


def _describe_error(exc: BaseException) -> str:
    result = getattr(exc, "result", None)  # StepFailed carries the failed step's result
    if result is not None and hasattr(result, "failed_checks"):
        checks = "; ".join(f"{c.name}: {c.observed}" for c in result.failed_checks)
        return f"StepFailed at {result.step}: {checks}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


class TaskJoiner:
    """Runs the join's tasks directly (`task.fn`) in the flow's order, timing each step on the caller's clock."""

    def __init__(self, cluster: Any, ssh: Any, settings: Any) -> None:
        self.cluster, self.ssh, self.settings = cluster, ssh, settings

    async def __call__(self, name: str, host: Any) -> HostRun:
        run = HostRun(name)
        started = time.perf_counter()

        async def step(label: str, coro: Awaitable[Any]) -> Any:
            t = time.perf_counter()
            try:
                result = await coro
            finally:
                run.steps_s[label] = time.perf_counter() - t
            run.statuses[label] = result.status
            return result

        try:
            pre = await step("windows_prereqs", windows_prereqs.fn(host, self.cluster, self.settings))
            await step("calico_reconfigure", calico_reconfigure.fn(self.cluster, self.ssh))
            await step("install_calico_windows", install_calico_windows.fn(host, self.cluster, self.settings,
                                                                           host_facts=pre.host))
            await step("install_kube_services", install_kube_services.fn(host, self.settings))
            await step("wait_node_ready", wait_node_ready.fn(self.cluster, pre.host.node_name, self.settings,
                                                             host=host))
        except Exception as exc:  # a benchmark reports a failed host and goes on with the others
            run.error = _describe_error(exc)
        run.total_s = time.perf_counter() - started
        return run


class FlowJoiner:
    """Runs `join_windows_node` for a saved host block; step seconds are the steps' own `duration_s`."""

    def __init__(self, block_names: dict[str, str]) -> None:
        self.names = block_names

    async def __call__(self, name: str, host: Any) -> HostRun:
        run = HostRun(name, started_at=time.time())
        request = JoinRequest(host_block=self.names[name], cluster_block=self.names["cluster"],
                              ssh_block=self.names.get("ssh"), smoke=False, netpol=False)
        started = time.perf_counter()
        try:
            state = await join_windows_node(request, return_state=True)
            run.flow_run_id = state.state_details.flow_run_id
            summary_ = await state.aresult()
            run.outcome = summary_.outcome
            for r in summary_.steps:
                run.steps_s[r.step] = r.duration_s
                run.statuses[r.step] = r.status
        except Exception as exc:
            run.error = _describe_error(exc)
        run.total_s = time.perf_counter() - started
        return run


Joiner = Callable[[str, Any], Awaitable[HostRun]]


async def run_phase(lab: Any, targets: list[tuple[str, Any]], joiner: Joiner, concurrency: int) -> dict[str, Any]:
    """Join every `(name, host block)` in `targets`, at most `concurrency` at a time; report the phase.

    Per-host seconds count from when a host's join starts (not while it waits for a slot). `mutating_requests`
    is what the product changed: its Kubernetes API writes plus the host commands that changed a host (the
    emulated kubelets' own API writes are reported apart, as `lab_internal_mutating`)."""
    slots = asyncio.Semaphore(max(concurrency, 1))

    async def one(name: str, host: Any) -> HostRun:
        async with slots:
            return await joiner(name, host)

    before = counters.mark(lab)
    cpu = CpuMeter().start()
    t0 = time.perf_counter()
    runs = await asyncio.gather(*(one(n, h) for n, h in targets))
    wall = time.perf_counter() - t0
    cpu_s = cpu.stop()
    seen = counters.since(lab, before)
    ok = [r for r in runs if r.error is None]
    steps = {s: summary([r.steps_s[s] for r in ok if s in r.steps_s]) for s in STEPS}
    steps["total"] = summary([r.total_s for r in ok])
    statuses = {s: dict(Counter(r.statuses[s] for r in runs if s in r.statuses)) for s in STEPS}
    phase: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "hosts_ok": len(ok),
        "failures": {r.host: r.error for r in runs if r.error is not None},
        "joins_per_min": round(len(ok) / wall * 60, 1) if wall > 0 else None,
        "per_host_s": steps,
        "statuses": statuses,
        "mutating_requests": seen["kube_api"]["product_mutating"] + seen["winrm"]["mutating_commands"],
        "kube_api": seen["kube_api"],
        "winrm": seen["winrm"],
        "cpu_s": cpu_s,
    }
    outcomes = [r.outcome for r in runs if r.outcome is not None]
    if outcomes:
        phase["outcomes"] = dict(Counter(outcomes))
        steps_sum = [r.total_s - sum(r.steps_s.values()) for r in ok]
        phase["per_host_s"]["prefect_overhead"] = summary(steps_sum)  # flow wall minus its steps' own time
        phase["per_host_s"].update(await flow_run_timeline(runs))
    return phase


async def flow_run_timeline(runs: list[HostRun]) -> dict[str, Any]:
    """Where a flow run's time went, from the API's records: `flow_run_created` (call → the API created the
    run: client-side retries of a busy API show here), `flow_run_running` (Running → final state)."""
    from prefect.client.orchestration import get_client

    created, running = [], []
    async with get_client() as client:
        for r in runs:
            if r.flow_run_id is None:
                continue
            fr = await client.read_flow_run(r.flow_run_id)
            created.append(fr.created.timestamp() - r.started_at)
            if fr.start_time and fr.end_time:
                running.append((fr.end_time - fr.start_time).total_seconds())
    return {"flow_run_created": summary(created), "flow_run_running": summary(running)}


async def idle_phase(lab: Any, seconds: float) -> dict[str, Any]:
    """What the lab costs while nobody asks it anything: CPU (percent of one core) and API requests per second
    over `seconds` (the emulated kubelets' heartbeats, service loops)."""
    before = counters.mark(lab)
    cpu = CpuMeter().start()
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - t0
    used = cpu.stop()
    seen = counters.since(lab, before)
    return {"seconds": round(wall, 3), "cpu_pct": round(100 * used["process"] / wall, 1) if wall else None,
            "kube_requests_per_s": round(seen["kube_api"]["requests"] / wall, 1) if wall else None}
