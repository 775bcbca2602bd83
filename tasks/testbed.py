"""A throw-away namespace holding the smoke workloads: create it, wait for the workloads with WATCHES (a deadline
per phase, fail fast on a pod that cannot start), and delete it again — always, even on cancellation.

Phases of every workload: `scheduled` (bound to a node), `started` (image pulled, containers running), `ready`
(Ready condition), and for every Service `endpoints` (a ready address). A workload's clock for a phase starts when
it enters that phase; Windows images are large, so `started` has its own, longer budget on Windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
from kubernetes.aio import client as kclient
from kubernetes.aio import watch as kwatch
from kubernetes.aio.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from . import manifests as m
from .probes import Endpoint
from .results import StepRecorder

log = logging.getLogger(__name__)

PHASES = ("scheduled", "started", "ready")
STAGE_TEXT = ("waiting to be scheduled", "pulling image / starting", "running, not Ready yet", "Ready")

# Container waiting reasons that never resolve on their own within a smoke test's deadline.
FATAL_WAITING = frozenset({"CreateContainerError", "CreateContainerConfigError", "RunContainerError",
                           "CrashLoopBackOff", "InvalidImageName", "ErrImageNeverPull"})
PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff"})
# Pull errors worth waiting through (registry throttling, network hiccups): kubelet retries them.
TRANSIENT_PULL = ("toomanyrequests", "429", "i/o timeout", "connection reset", "tls handshake timeout",
                  "context deadline exceeded", "temporary failure")
# Sandbox errors that need a fix on the cluster (Calico IPAM) rather than time.
FATAL_SANDBOX = ("ipam", "strict affinity", "strictaffinity")
OS_MISMATCH = "operating system does not match"


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
        labels = (pod.get("metadata") or {}).get("labels") or {}
        return all(labels.get(k) == v for k, v in self.selector.items())

    def current(self) -> dict[str, Any] | None:
        """The newest pod not being deleted."""
        live = [p for p in self.pods.values() if not (p.get("metadata") or {}).get("deletionTimestamp")]
        live.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
        return live[-1] if live else None


@dataclass
class ServiceWait:
    name: str
    backed_by: str                 # workload name
    ready: bool = False
    entered_at: float | None = None


def pod_stage(pod: dict[str, Any] | None) -> int:
    """0 unscheduled, 1 scheduled, 2 containers running, 3 Ready."""
    if not pod:
        return 0
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if not spec.get("nodeName") and conds.get("PodScheduled") != "True":
        return 0
    statuses = status.get("containerStatuses") or []
    running = status.get("phase") == "Running" and statuses and all(
        (s.get("state") or {}).get("running") is not None for s in statuses)
    if not running:
        return 1
    return 3 if conds.get("Ready") == "True" else 2


def pull_error_is_transient(message: str) -> bool:
    low = message.lower()
    return any(m in low for m in TRANSIENT_PULL)


def fatal_reason(pod: dict[str, Any], warnings: list[tuple[str, str]]) -> str | None:
    """Why `pod` will not start without a fix, or None while it may still start.

    Fatal: phase Failed; a container waiting with CreateContainerError (the OS-mismatch error shows here),
    CrashLoopBackOff, InvalidImageName...; a container that terminated; an image pull error that is not throttling
    or a network hiccup; a sandbox error from Calico IPAM (e.g. strict affinity off); an event saying the container
    OS does not match the host's.
    """
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return f"pod failed: {status.get('reason') or ''} {status.get('message') or ''}".strip()
    last_pull_error = next((m for r, m in reversed(warnings) if r == "Failed" and "pull" in m.lower()), None)
    inits = status.get("initContainerStatuses") or []
    for cs in list(inits) + list(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        reason, message = waiting.get("reason") or "", waiting.get("message") or ""
        if reason in FATAL_WAITING:
            return f"container {cs.get('name')} {reason}: {message or _last(warnings)}".rstrip(": ")
        if reason in PULL_WAITING:
            detail = message if reason == "ErrImagePull" and message else (last_pull_error or message)
            if detail and not pull_error_is_transient(detail):
                return f"container {cs.get('name')} {reason}: {detail}"
        term = state.get("terminated")
        if term and not (cs in inits and term.get("exitCode") == 0):  # a finished init container is fine
            return (f"container {cs.get('name')} terminated: {term.get('reason') or ''} exit code "
                    f"{term.get('exitCode')} {term.get('message') or ''}").strip()
    for reason, message in warnings:
        low = message.lower()
        if OS_MISMATCH in low:
            return message
        if reason == "FailedCreatePodSandBox" and any(m in low for m in FATAL_SANDBOX):
            return message
    return None


def _last(warnings: list[tuple[str, str]]) -> str:
    return warnings[-1][1] if warnings else ""


def describe_pod(pod: dict[str, Any] | None, warnings: list[tuple[str, str]]) -> str:
    """One paragraph: pod, node, phase, container states, last Warning events."""
    if pod is None:
        return "no pod created yet" + (f"; events: {'; '.join(f'{r}: {m}' for r, m in warnings[-3:])}"
                                       if warnings else "")
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    parts = [f"pod {meta.get('name')} on {spec.get('nodeName') or '(unscheduled)'} phase {status.get('phase')}"]
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        for key in ("waiting", "terminated", "running"):
            if state.get(key) is not None:
                detail = state[key] or {}
                text = f"{cs.get('name')} {key}"
                if detail.get("reason"):
                    text += f" {detail['reason']}"
                if detail.get("message"):
                    text += f": {detail['message']}"
                parts.append(text)
                break
    for c in status.get("conditions") or []:
        if c.get("status") != "True" and c.get("message"):
            parts.append(f"{c.get('type')}={c.get('status')} ({c.get('reason')}: {c.get('message')})")
    if warnings:
        parts.append("events: " + "; ".join(f"{r}: {m}" for r, m in warnings[-3:]))
    return "; ".join(parts)


# --- watches ------------------------------------------------------------------------------------------------------
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


# --- namespace lifecycle -------------------------------------------------------------------------------------------
async def create_namespace(api: kclient.ApiClient, body: dict[str, Any]) -> str:
    """Create the Namespace (generateName) and return its name."""
    ns = await kclient.CoreV1Api(api).create_namespace(body=body)
    return ns.metadata.name


async def copy_pull_secrets(api: kclient.ApiClient, names: list[str], source_ns: str, target_ns: str) -> None:
    """Copy image pull Secrets (type and data only) into the smoke namespace."""
    core = kclient.CoreV1Api(api)
    for name in names:
        src = await core.read_namespaced_secret(name, source_ns)
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": src.type,
                "data": dict(src.data or {})}
        await core.create_namespaced_secret(target_ns, body=body)


async def create_objects(api: kclient.ApiClient, namespace: str, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create each manifest in `namespace`; returns the created objects (as the API returned them)."""
    core, apps, net = kclient.CoreV1Api(api), kclient.AppsV1Api(api), kclient.NetworkingV1Api(api)
    creators = {"Pod": core.create_namespaced_pod, "Service": core.create_namespaced_service,
                "Deployment": apps.create_namespaced_deployment,
                "NetworkPolicy": net.create_namespaced_network_policy}
    made = []
    for obj in objs:
        created = await creators[obj["kind"]](namespace, body=obj)
        made.append(api.sanitize_for_serialization(created))
    return made


async def delete_namespace(api: kclient.ApiClient, name: str, *, timeout_s: float) -> bool:
    """Delete the namespace and WATCH until it is gone. True when gone within `timeout_s` (also when it was
    already gone), False when it is still terminating at the deadline."""
    core = kclient.CoreV1Api(api)
    try:
        await core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
    selector = f"metadata.name={name}"
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                listing = await core.list_namespace(field_selector=selector)
                if not listing.items:
                    return True
                rv = listing.metadata.resource_version
                try:
                    async with kwatch.Watch() as w:
                        async for ev in w.stream(core.list_namespace, field_selector=selector, resource_version=rv,
                                                 timeout_seconds=max(1, int(timeout_s))):
                            if ev["type"] == "DELETED":
                                return True
                except ApiException as exc:
                    if exc.status != 410:
                        raise
    except TimeoutError:
        return False


async def shielded(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run `make()` to completion even when the caller is cancelled meanwhile (task cancel, Prefect timeout or
    flow cancellation), then re-raise that cancellation. `make()` must bound its own duration."""
    job = asyncio.ensure_future(make())
    cancelled: BaseException | None = None
    while not job.done():
        try:
            with anyio.CancelScope(shield=True):
                await asyncio.shield(job)
        except asyncio.CancelledError as exc:
            cancelled = exc
        except BaseException:  # noqa: BLE001 - the job's own error is read below
            break
    if cancelled is not None:
        if not job.cancelled() and job.exception() is not None:
            log.warning("cleanup failed: %r", job.exception())
        raise cancelled
    return job.result()


# --- the testbed as one unit ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    selector: dict[str, str]
    os: str


WORKLOADS = {
    m.NETSHOOT: WorkloadSpec(m.NETSHOOT, {"run": m.NETSHOOT}, "linux"),
    m.IIS_CLIENT: WorkloadSpec(m.IIS_CLIENT, {"run": m.IIS_CLIENT}, "linux"),
    m.NGINX: WorkloadSpec(m.NGINX, {"run": m.NGINX}, "linux"),
    m.IIS: WorkloadSpec(m.IIS, {"run": m.IIS}, "windows"),
}
SERVICES = {m.NGINX_SVC: m.NGINX, m.IIS_SVC: m.IIS}


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
        return str((self.pods[workload].get("spec") or {}).get("nodeName") or "")


async def inspect_node(api: kclient.ApiClient, rec: StepRecorder, node_name: str) -> str | None:
    """Check the node under test exists, is a Windows node and is Ready; record its Windows build.

    Returns the `node.kubernetes.io/windows-build` label (None when absent).

    Raises:
        StepFailed: the node is missing, not Windows, or not Ready.
    """
    core = kclient.CoreV1Api(api)
    try:
        node = api.sanitize_for_serialization(await core.read_node(node_name))
    except ApiException as exc:
        if exc.status != 404:
            raise
        rec.check("node-found", False, observed=f"no Node {node_name}", expected="the node is registered",
                  fix="Join the node first (join_windows_node), or pass the node name as `kubectl get nodes` shows "
                      "it (the lowercased hostname).")
        rec.raise_if_failed()
        raise
    labels = (node.get("metadata") or {}).get("labels") or {}
    os_name = labels.get(m.OS_LABEL, "")
    build = labels.get(m.WINDOWS_BUILD_LABEL)
    rec.fact("node_os", os_name)
    rec.fact("windows_build", build)
    rec.check("node-windows", os_name == "windows", observed=f"{m.OS_LABEL}={os_name or '(none)'}",
              expected=f"{m.OS_LABEL}=windows",
              fix="This verification is for Windows nodes: pass the name of a Windows node.")
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})
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
