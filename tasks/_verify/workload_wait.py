"""Wait for the smoke workloads with WATCHES: a deadline per phase, fail fast on a pod that cannot start, progress
reported as it goes.

Phases of every workload: `scheduled` (bound to a node), `started` (image pulled, containers running), `ready`
(Ready condition), and for every Service `endpoints` (a ready address). A workload's clock for a phase starts when
it enters that phase; Windows images are large, so `started` has its own, longer budget on Windows.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

from kubernetes.aio import client as kclient
from kubernetes.aio import watch as kwatch
from kubernetes.aio.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from prefect_windows_nodes.tasks._verify.podstatus import describe_pod, fatal_reason, pod_stage

PHASES = ("scheduled", "started", "ready")
STAGE_TEXT = ("waiting to be scheduled", "pulling image / starting", "running, not Ready yet", "Ready")


class SmokeDeadlines(BaseModel):
    """How long each phase may take (seconds)."""

    model_config = ConfigDict(extra="forbid")

    scheduled_s: float = Field(default=120.0, gt=0, description="Until a pod is bound to a node.")
    linux_start_s: float = Field(default=300.0, gt=0, description="Linux image pull and container start.")
    windows_start_s: float = Field(default=1800.0, gt=0, description="Windows image pull (several GB) and start.")
    ready_s: float = Field(default=180.0, gt=0, description="From running to Ready, and until Services have a "
                                                           "ready endpoint.")
    exec_s: float = Field(default=30.0, gt=0, description="Each check command run in a pod.")
    cleanup_s: float = Field(default=300.0, gt=0, description="Until the namespace is gone after deletion.")


class WorkloadFailed(Exception):
    """A workload cannot start (fail fast) or missed a phase deadline; `workload`, `phase` and `diagnosis` say
    which, where and why (pod status and recent Warning events)."""

    def __init__(self, workload: str, phase: str, message: str, diagnosis: str = "", *, timed_out: bool = False):
        self.workload, self.phase, self.message, self.diagnosis = workload, phase, message, diagnosis
        self.timed_out = timed_out
        super().__init__(f"{workload}: {message}")


@dataclass
class Workload:
    """A set of pods (by label) the smoke test waits for."""

    name: str
    selector: dict[str, str]
    os: str
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage: int = 0                 # number of PHASES done
    entered_at: float = 0.0        # loop time the current phase began

    def matches(self, pod: dict[str, Any]) -> bool:
        """True when the pod carries every label of the selector."""
        labels = (pod.get("metadata") or {}).get("labels") or {}
        return all(labels.get(k) == v for k, v in self.selector.items())

    def current(self) -> dict[str, Any] | None:
        """The newest pod not being deleted."""
        live = [p for p in self.pods.values() if not (p.get("metadata") or {}).get("deletionTimestamp")]
        live.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
        return live[-1] if live else None


@dataclass
class ServiceWait:
    """A Service the smoke test waits for until it has a ready endpoint address."""

    name: str
    backed_by: str                 # workload name
    ready: bool = False
    entered_at: float | None = None


async def _pump(api: kclient.ApiClient, kind: str, list_fn: Callable[..., Awaitable[Any]],
                queue: asyncio.Queue, **kwargs: Any) -> None:
    """List, then watch `list_fn` forever, putting `(kind, type, obj dict)` into `queue`; re-list on 410 Gone."""
    rv: str | None = None
    while True:
        if rv is None:
            listing = await list_fn(**kwargs)
            for item in listing.items or []:
                queue.put_nowait((kind, "ADDED", api.sanitize_for_serialization(item)))
            rv = listing.metadata.resource_version if listing.metadata else None
        try:
            async with kwatch.Watch() as w:
                async for ev in w.stream(list_fn, resource_version=rv, timeout_seconds=300, **kwargs):
                    if ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        queue.put_nowait((kind, ev["type"], ev["raw_object"]))
                    rv = w.resource_version or rv
        except ApiException as exc:
            if exc.status != 410:
                raise
            rv = None


@contextlib.asynccontextmanager
async def watching(api: kclient.ApiClient, namespace: str,
                   kinds: tuple[str, ...] = ("pod", "event", "endpoints")) -> AsyncIterator[asyncio.Queue]:
    """Watch pods, events and endpoints of `namespace` into one queue of `(kind, type, obj)`; a watch that fails
    puts `("error", "", exc)` into the queue."""
    core = kclient.CoreV1Api(api)
    fns = {"pod": core.list_namespaced_pod, "event": core.list_namespaced_event,
           "endpoints": core.list_namespaced_endpoints}
    queue: asyncio.Queue = asyncio.Queue()

    async def run(kind: str) -> None:
        try:
            await _pump(api, kind, fns[kind], queue, namespace=namespace)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            queue.put_nowait(("error", kind, exc))

    tasks = [asyncio.ensure_future(run(k)) for k in kinds]
    try:
        yield queue
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


Progress = Callable[[float, str], Awaitable[None]]


async def wait_for_workloads(api: kclient.ApiClient, namespace: str, workloads: list[Workload],
                             services: list[ServiceWait], deadlines: SmokeDeadlines,
                             progress: Progress | None = None) -> dict[str, dict[str, Any]]:
    """Watch until every workload's pod is Ready and every Service has a ready endpoint address.

    Calls `progress(percent, text)` whenever the progress changes. Returns the Ready pod of each workload by name.

    Raises:
        WorkloadFailed: a pod cannot start (fail fast, with the reason from its status or events), or a phase
            deadline passed (with the state of the late workload).
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    for w in workloads:
        w.stage, w.entered_at = 0, start
    warnings: dict[str, list[tuple[str, str]]] = {}
    total_units = len(workloads) * len(PHASES) + len(services)
    last_percent = -1.0

    def budget(w: Workload) -> float:
        phase = PHASES[w.stage]
        if phase == "scheduled":
            return deadlines.scheduled_s
        if phase == "started":
            return deadlines.windows_start_s if w.os == "windows" else deadlines.linux_start_s
        return deadlines.ready_s

    def pod_warnings(w: Workload) -> list[tuple[str, str]]:
        pod = w.current()
        return warnings.get((pod.get("metadata") or {}).get("name"), []) if pod else []

    async def report() -> None:
        nonlocal last_percent
        done = sum(w.stage for w in workloads) + sum(1 for s in services if s.ready)
        percent = round(100.0 * done / total_units, 1) if total_units else 100.0
        if percent != last_percent and progress is not None:
            last_percent = percent
            text = ", ".join(f"{w.name} {STAGE_TEXT[w.stage]}" for w in workloads)
            await progress(percent, text)

    def evaluate() -> None:
        now = loop.time()
        for w in workloads:
            pod = w.current()
            stage = pod_stage(pod)
            if stage != w.stage:
                # a replacement pod can move a workload backwards; its clock restarts then too
                w.stage, w.entered_at = stage, now
            if pod is not None:
                why = fatal_reason(pod, pod_warnings(w))
                if why:
                    raise WorkloadFailed(w.name, PHASES[min(w.stage, 2)], why, describe_pod(pod, pod_warnings(w)))
        by_name = {w.name: w for w in workloads}
        for s in services:
            if not s.ready and s.entered_at is None and by_name[s.backed_by].stage >= 3:
                s.entered_at = now

    async with watching(api, namespace) as queue:
        await report()
        while True:
            evaluate()
            await report()
            if all(w.stage >= 3 for w in workloads) and all(s.ready for s in services):
                return {w.name: w.current() or {} for w in workloads}
            now = loop.time()
            due: list[tuple[float, str, str]] = []
            for w in workloads:
                if w.stage < 3:
                    due.append((w.entered_at + budget(w), w.name, PHASES[w.stage]))
            for s in services:
                if not s.ready and s.entered_at is not None:
                    due.append((s.entered_at + deadlines.ready_s, s.name, "endpoints"))
            deadline, late, phase = min(due) if due else (now + deadlines.ready_s, "", "")
            try:
                async with asyncio.timeout(max(0.0, deadline - now)):
                    kind, etype, obj = await queue.get()
            except TimeoutError:
                if not late:
                    continue
                w = next((x for x in workloads if x.name == late), None)
                if w is not None:
                    raise WorkloadFailed(late, phase, f"not {phase} within {budget(w):g}s",
                                         describe_pod(w.current(), pod_warnings(w)), timed_out=True) from None
                raise WorkloadFailed(late, "endpoints", f"Service {late} has no ready endpoint after "
                                     f"{deadlines.ready_s:g}s", timed_out=True) from None
            _apply(kind, etype, obj, workloads, services, warnings)


def _apply(kind: str, etype: str, obj: Any, workloads: list[Workload], services: list[ServiceWait],
           warnings: dict[str, list[tuple[str, str]]]) -> None:
    if kind == "error":
        raise obj
    if kind == "pod":
        name = (obj.get("metadata") or {}).get("name")
        for w in workloads:
            if w.matches(obj):
                if etype == "DELETED":
                    w.pods.pop(name, None)
                else:
                    w.pods[name] = obj
    elif kind == "event":
        involved = obj.get("involvedObject") or obj.get("regarding") or {}
        if etype != "DELETED" and obj.get("type") == "Warning" and involved.get("kind") == "Pod":
            warnings.setdefault(involved.get("name"), []).append(
                (str(obj.get("reason") or ""), str(obj.get("message") or obj.get("note") or "")))
    elif kind == "endpoints":
        name = (obj.get("metadata") or {}).get("name")
        for s in services:
            if s.name == name:
                s.ready = etype != "DELETED" and any(subset.get("addresses") for subset in obj.get("subsets") or [])
