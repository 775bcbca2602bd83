"""The kubelet model: pods bound to a node get a sandbox (IP from Calico IPAM), their images pulled (taking clock
time), and run — or stay ContainerCreating with the reason a real kubelet reports.

Linux nodes use `LinuxNodeRuntime`. Windows hosts register their own `NodeRuntime` per node (through
`KubeLab.register_node_runtime`); pods there run only when the runtime says the CNI is ready and the pod can start.
A Windows node's Ready condition is written by the Windows host model, not here.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import Conflict, NotFound
from ..store import Event, now_iso
from . import images
from .ipam import CalicoIpam, IpamError
from .podutil import host_network, meta, node_ip, node_os, set_condition



def node_conditions(*, ready: bool, message: str, now: str) -> list[dict[str, Any]]:
    """The four conditions a kubelet posts: no memory, disk or PID pressure, and Ready (True with
    reason KubeletReady, or False with KubeletNotReady and `message`), all stamped `now`."""
    conds = [
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
         "message": "kubelet has sufficient memory available"},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
         "message": "kubelet has no disk pressure"},
        {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
         "message": "kubelet has sufficient PID available"},
        {"type": "Ready", "status": "True" if ready else "False",
         "reason": "KubeletReady" if ready else "KubeletNotReady", "message": message},
    ]
    for c in conds:
        c["lastHeartbeatTime"] = c["lastTransitionTime"] = now
    return conds

@runtime_checkable
class NodeRuntime(Protocol):
    """What the cluster needs from a node's container runtime + CNI (Windows hosts implement this)."""

    node_name: str
    os: str  # "linux" | "windows"

    def cni_ready(self) -> tuple[bool, str]:
        """(ready, reason message when not) — pods get no sandbox until ready."""

    def pod_start_error(self, pod: dict) -> str | None:
        """Why this pod's containers cannot start here (e.g. OS build mismatch); None when they can."""

    def overlay(self) -> str | None:
        """The overlay the node speaks: "vxlan" | "ipip" | "bgp" | None."""

    def policy_enforced(self) -> bool:
        """True while a policy agent (Felix) runs on the node."""

    def requires_strict_affinity(self) -> bool:
        """True when Calico IPAM on the node refuses to allocate with strict affinity off (Windows)."""

    async def exec(self, pod: dict, container: str, argv: list[str]) -> Any:
        """An ExecResult to answer an exec in `pod` with, or None for the cluster's default interpreters."""


class LinuxNodeRuntime:
    """A Linux node with calico-node: CNI ready, Felix enforcing, overlay as the pools and Felix say."""

    os = "linux"

    def __init__(self, node_name: str, ctx: Any = None) -> None:
        self.node_name = node_name
        self.ctx = ctx

    def cni_ready(self) -> tuple[bool, str]:
        return True, ""

    def pod_start_error(self, pod: dict) -> str | None:
        return None

    def overlay(self) -> str | None:
        """The encapsulation this node uses towards pods of the first enabled pool (see net.reachability)."""
        if self.ctx is None:
            return "ipip"
        from ..net.reachability import linux_overlays
        pools = self.ctx.enabled_pools()
        modes = linux_overlays(self.ctx, pools[0]) if pools else set()
        return next(iter(sorted(modes)), None)

    def policy_enforced(self) -> bool:
        return True

    def requires_strict_affinity(self) -> bool:
        return False

    async def exec(self, pod: dict, container: str, argv: list[str]) -> Any:
        return None


class RuntimeRegistry:
    """Node name → NodeRuntime. Unregistered Linux nodes get a LinuxNodeRuntime; unregistered Windows nodes none."""

    def __init__(self, ctx: Any, on_change=None) -> None:
        self.ctx = ctx
        self._by_node: dict[str, NodeRuntime] = {}
        self._linux: dict[str, LinuxNodeRuntime] = {}
        self._on_change = on_change

    def register(self, node_name: str, runtime: NodeRuntime) -> None:
        """Use `runtime` for `node_name` from now on; pods on that node are re-evaluated."""
        self._by_node[node_name] = runtime
        if self._on_change:
            self._on_change(node_name)

    def unregister(self, node_name: str) -> None:
        self._by_node.pop(node_name, None)
        if self._on_change:
            self._on_change(node_name)

    def registered(self) -> dict[str, NodeRuntime]:
        return dict(self._by_node)

    def get(self, node_name: str | None, node: dict | None = None) -> NodeRuntime | None:
        """The runtime of a node, or None when it has none (a Windows node nobody registered, a missing node)."""
        if not node_name:
            return None
        rt = self._by_node.get(node_name)
        if rt is not None:
            return rt
        node = node if node is not None else self.ctx.node(node_name)
        if node is None or node_os(node) != "linux":
            return None
        return self._linux.setdefault(node_name, LinuxNodeRuntime(node_name, self.ctx))


# Emulated (real-time) durations before the clock scales them.
DEFAULT_PULL_SECONDS = {"linux": 3.0, "windows": 45.0}
REPULL_SECONDS = 1.0  # imagePullPolicy Always with the image cached: a manifest check
BACKOFF_START, BACKOFF_MAX = 10.0, 40.0
STOP_SECONDS = 1.0  # emulated time a container takes to exit on SIGTERM (the grace period caps it)


@dataclass
class _Pull:
    task: asyncio.Task | None
    waiters: set[tuple[str, str]] = field(default_factory=set)  # (pod uid, container name)


class Kubelet:
    """Drives pods on every node towards Running; knobs: `set_pull_seconds`, `set_image_missing`."""

    name = "kubelet"

    def __init__(self, ctx: Any, ipam: CalicoIpam) -> None:
        self.ctx = ctx
        self.ipam = ipam
        self.pull_seconds: dict[str, float] = {}          # normalized image → emulated seconds
        self.node_pull_seconds: dict[tuple[str, str], float] = {}  # (node, normalized image) → seconds
        self.missing_images: set[str] = set()            # normalized images whose pull fails (manifest unknown)
        self.node_pull_factor: dict[str, float] = {}      # node → multiplier of pull durations
        self._cache: dict[str, set[str]] = {}             # node → normalized images present
        self._pulls: dict[tuple[str, str], _Pull] = {}
        self._pulled: dict[str, set[str]] = {}            # pod uid → containers whose image is ready for it
        self._pull_errors: dict[tuple[str, str], tuple[str, bool]] = {}  # (uid, container) → (error, shown)
        self._retry: dict[tuple[str, str], tuple[float, float]] = {}  # pod key → (due loop time, backoff s)
        self._resync_task: asyncio.Task | None = None
        self._terminating: set[str] = set()             # pod uids whose containers are being stopped
        self._completing: set[str] = set()              # pod uids whose commands run to completion

    # --- knobs -----------------------------------------------------------------------------------------------------
    def set_pull_seconds(self, image: str, seconds: float, node: str | None = None) -> None:
        """Make pulls of `image` take `seconds` of emulated time (on `node` only when given)."""
        key = images.normalize(image)
        if node:
            self.node_pull_seconds[(node, key)] = seconds
        else:
            self.pull_seconds[key] = seconds

    def set_node_pull_factor(self, node: str, factor: float) -> None:
        """Multiply every image pull's duration on `node` (a slow registry link or disk)."""
        self.node_pull_factor[node] = factor

    def set_image_missing(self, image: str, missing: bool = True) -> None:
        """Make pulls of `image` fail with "manifest unknown" (ErrImagePull, then ImagePullBackOff)."""
        key = images.normalize(image)
        (self.missing_images.add if missing else self.missing_images.discard)(key)

    def forget_images(self, node: str) -> None:
        """Empty a node's image cache (the next pods there pull again)."""
        self._cache[node] = set()

    def has_image(self, node: str, image: str) -> bool:
        return images.normalize(image) in self._node_cache(node)

    # --- events ----------------------------------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        kind = ev.rt.key
        if kind == ("", "pods"):
            m = meta(ev.obj)
            if ev.type == "DELETED":
                self.ctx.enqueue("kubelet-gone", self._pod_gone, (m.get("uid"), bool(host_network(ev.obj))))
                return
            if m.get("deletionTimestamp") and (ev.obj.get("spec") or {}).get("nodeName"):
                self.ctx.enqueue("kubelet-kill", self._kill, (m.get("namespace"), m.get("name")))
                return
            if (ev.obj.get("spec") or {}).get("nodeName"):
                self.ctx.enqueue(self.name, self.reconcile, (m.get("namespace"), m.get("name")))
        elif kind == ("", "nodes"):
            node = ev.obj["metadata"]["name"]
            if ev.type == "DELETED":
                self._cache.pop(node, None)
                self._collect_pods_of(node)
            elif ev.type == "ADDED" or _node_changed(ev.old or {}, ev.obj):
                self.kick(node)

    def _collect_pods_of(self, node_name: str) -> None:
        """The pod garbage collector: pods bound to a deleted node go (reconcile deletes them)."""
        for p in self.ctx.store.list(self.ctx.rt("", "pods"), None,
                                     lambda p: (p.get("spec") or {}).get("nodeName") == node_name):
            self.ctx.enqueue(self.name, self.reconcile, (p["metadata"]["namespace"], p["metadata"]["name"]))

    def kick(self, node_name: str | None = None) -> None:
        """Re-evaluate now (skipping any back-off) the pods on `node_name` (every node when None) that are not
        Running yet. Windows host models call this when their CNI or runtime state changes."""
        pods = self.ctx.store.list(self.ctx.rt("", "pods"), None, lambda p: (
            (p.get("spec") or {}).get("nodeName") and (node_name is None or p["spec"]["nodeName"] == node_name)
            and (p.get("status") or {}).get("phase") not in ("Running", "Succeeded", "Failed")))
        for p in pods:
            key = (p["metadata"]["namespace"], p["metadata"]["name"])
            self._retry.pop(key, None)
            self.ctx.enqueue(self.name, self.reconcile, key)

    def start(self) -> None:
        """Start the retry loop (sandbox and pull failures back off and retry, as kubelet does)."""
        self._resync_task = self.ctx.runner.spawn(self._resync(), busy=False)

    async def _resync(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(self.ctx.clock.seconds(2.0), 0.005))
            now = loop.time()
            for key, (due, _) in list(self._retry.items()):
                if due <= now:
                    self.ctx.enqueue(self.name, self.reconcile, key)

    def _backoff(self, key: tuple[str, str], prev: float = 0.0) -> None:
        loop = asyncio.get_running_loop()
        delay = min(BACKOFF_MAX, prev * 2) if prev else BACKOFF_START
        self._retry[key] = (loop.time() + self.ctx.clock.seconds(delay), delay)

    # --- pod lifecycle ---------------------------------------------------------------------------------------------
    def reconcile(self, key: tuple[str, str]) -> None:
        ns, name = key
        pods = self.ctx.rt("", "pods")
        pod = self.ctx.store.try_get(pods, ns, name)
        if pod is None or meta(pod).get("deletionTimestamp"):
            self._retry.pop(key, None)
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        node = self.ctx.node(node_name)
        if node is None:  # the pod garbage collector force-deletes pods of deleted nodes
            self.ctx.store.delete(pods, ns, name, grace_period=0)
            return
        runtime = self.ctx.runtimes.get(node_name, node)
        if runtime is None:
            return
        if status.get("phase") == "Running" and all(
                (c.get("state") or {}).get("running") for c in status.get("containerStatuses") or []):
            self._retry.pop(key, None)
            return
        entry = self._retry.pop(key, None)
        if entry is not None and entry[0] > asyncio.get_running_loop().time():
            self._retry[key] = entry  # backing off; the resync loop or a kick brings it back
            return
        prev = entry[1] if entry else 0.0
        new = self._base_status(pod, node)
        engine = images.runtime_of(node)
        uid = meta(pod)["uid"]

        # 1. the sandbox and its address
        if not new.get("podIP"):
            if host_network(pod):
                ip = node_ip(node)
            else:
                ready, why = runtime.cni_ready()
                if not ready:
                    self.ctx.events.record(pod, "Warning", "NetworkNotReady",
                                           "network is not ready: container runtime network not ready: "
                                           f"NetworkReady=false reason:NetworkPluginNotReady message:{why}",
                                           component="kubelet", host=node_name)
                    self._set_waiting(new, pod, engine, {})
                    self._write(pod, new)
                    self._backoff(key, prev)
                    return
                try:
                    ip = self.ipam.assign(node, pod_handle(uid), {
                        "namespace": ns, "node": node_name, "pod": name, "_pod": pod},
                        windows=runtime.requires_strict_affinity())
                except IpamError as exc:
                    self.ctx.events.record(pod, "Warning", "FailedCreatePodSandBox",
                                           sandbox_error(pod, engine, str(exc)),
                                           component="kubelet", host=node_name)
                    self._set_waiting(new, pod, engine, {})
                    self._write(pod, new)
                    self._backoff(key, prev)
                    return
            if ip:
                new["podIP"] = ip
                new["podIPs"] = [{"ip": ip}]

        # 2. images
        all_containers = list(pod["spec"].get("initContainers") or []) + list(pod["spec"].get("containers") or [])
        waiting: dict[str, tuple[str, str | None]] = {}
        for c in all_containers:
            state = self._image_ready(pod, node, runtime, c)
            if state is not None:
                waiting[c["name"]] = state
        if waiting:
            self._set_waiting(new, pod, engine, waiting)
            self._write(pod, new)
            if any(r in ("ErrImagePull", "ImagePullBackOff") for r, _ in waiting.values()):
                self._backoff(key, prev)
            return

        # 3. can the containers start?
        err = runtime.pod_start_error(pod)
        if err:
            self.ctx.events.record(pod, "Warning", "Failed", f"Error: {err}", component="kubelet", host=node_name,
                                   field_path=f"spec.containers{{{pod['spec']['containers'][0]['name']}}}")
            self._set_waiting(new, pod, engine,
                              {c["name"]: ("CreateContainerError", err) for c in pod["spec"]["containers"]})
            self._write(pod, new)
            self._backoff(key, prev)
            return

        # 4. run
        self._run(pod, node, new, engine)
        self._write(pod, new)
        if (pod["spec"].get("restartPolicy") or "Always") != "Always" and uid not in self._completing:
            self._completing.add(uid)
            self.ctx.runner.spawn(self._run_to_completion(key, uid))

    def _image_ready(self, pod: dict, node: dict, runtime: Any, c: dict) -> tuple[str, str | None] | None:
        """None when the container's image is ready for this pod, else the waiting (reason, message)."""
        uid, node_name = meta(pod)["uid"], node["metadata"]["name"]
        if c["name"] in self._pulled.get(uid, set()):
            return None
        image = c.get("image") or ""
        ref = images.normalize(image)
        err = self._pull_errors.get((uid, c["name"]))
        if err is not None:
            message, shown = err
            if not shown:
                self._pull_errors[(uid, c["name"])] = (message, True)
                return ("ErrImagePull", message)
            # we only get here once the back-off expired: pull again
            self._pull_errors.pop((uid, c["name"]), None)
            self.ctx.events.record(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"',
                                   component="kubelet", host=node_name, field_path=_field(pod, c))
            self._start_pull(pod, node, c, ref)
            return ("ImagePullBackOff", f'Back-off pulling image "{image}"')
        policy = c.get("imagePullPolicy") or ("Always" if images.tag(image) in ("latest", "") else "IfNotPresent")
        cached = ref in self._node_cache(node_name)
        if cached and policy != "Always":
            self._pulled.setdefault(uid, set()).add(c["name"])
            self.ctx.events.record(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine',
                                   component="kubelet", host=node_name, field_path=_field(pod, c))
            return None
        if policy == "Never" and not cached:
            return ("ErrImageNeverPull",
                    f'Container image "{image}" is not present with pull policy of Never')
        return self._start_pull(pod, node, c, ref)

    def _start_pull(self, pod: dict, node: dict, c: dict, ref: str) -> tuple[str, str | None]:
        uid, node_name = meta(pod)["uid"], node["metadata"]["name"]
        pull = self._pulls.get((node_name, ref))
        if pull is None:
            cached = ref in self._node_cache(node_name)
            seconds = self.node_pull_seconds.get((node_name, ref), self.pull_seconds.get(ref))
            if seconds is None:
                seconds = REPULL_SECONDS if cached else DEFAULT_PULL_SECONDS.get(images.image_os(ref), 3.0)
            seconds *= self.node_pull_factor.get(node_name, 1.0)
            # a node runtime may stretch pulls itself (the Windows host's slow image_pull fault)
            hook = getattr(self.ctx.runtimes.get(node_name, node), "image_pull_seconds", None)
            if callable(hook):
                seconds = float(hook(c.get("image") or "", seconds))
            pull = _Pull(task=None)
            self._pulls[(node_name, ref)] = pull
            pull.task = self.ctx.runner.spawn(self._pull(pod, node, c["image"], ref, seconds))
        pull.waiters.add((uid, c["name"]))
        return ("ContainerCreating", None)

    async def _pull(self, pod: dict, node: dict, image: str, ref: str, seconds: float) -> None:
        node_name = node["metadata"]["name"]
        self.ctx.events.record(pod, "Normal", "Pulling", f'Pulling image "{image}"', component="kubelet",
                               host=node_name, field_path=_field_for_image(pod, image))
        # A pull that cannot succeed (unknown manifest, wrong platform) fails at the manifest lookup, not after
        # the download time; a failing pull that took the full time would outlast its back-off and keep the node
        # pulling forever.
        if self._pull_failure(node, ref, image) is not None:
            seconds = min(seconds, REPULL_SECONDS)
        try:
            await self.ctx.clock.sleep(seconds)
        finally:
            pull = self._pulls.pop((node_name, ref), None)
        error = self._pull_failure(node, ref, image)
        waiters = pull.waiters if pull else set()
        if error is None:
            self._node_cache(node_name).add(ref)
            self.ctx.events.record(pod, "Normal", "Pulled", self._pulled_message(image, seconds),
                                   component="kubelet", host=node_name, field_path=_field_for_image(pod, image))
        else:
            self.ctx.events.record(pod, "Warning", "Failed", f'Failed to pull image "{image}": {error}',
                                   component="kubelet", host=node_name, field_path=_field_for_image(pod, image))
            self.ctx.events.record(pod, "Warning", "Failed", "Error: ErrImagePull", component="kubelet",
                                   host=node_name, field_path=_field_for_image(pod, image))
        for uid, cname in waiters:
            if error is None:
                self._pulled.setdefault(uid, set()).add(cname)
            else:
                self._pull_errors[(uid, cname)] = (error, False)
        self.kick(node_name)

    def _pulled_message(self, image: str, seconds: float) -> str:
        # Go prints durations with nanoseconds; a per-image jitter keeps them looking measured.
        jitter = int(hashlib.sha256(image.encode()).hexdigest()[:6], 16) % 1_000_000 / 1e7
        took = f"{seconds * (1 + jitter):.9f}".rstrip("0").rstrip(".") + "s"
        minor = _minor(self.ctx.kube_version())
        if minor >= 25:
            size = 40_000_000 + int(hashlib.sha256(image.encode()).hexdigest()[:6], 16) * 7
            return (f'Successfully pulled image "{image}" in {took} ({took} including waiting)'
                    + (f". Image size: {size} bytes." if minor >= 29 else ""))
        return f'Successfully pulled image "{image}" in {took}'

    def _pull_failure(self, node: dict, ref: str, image: str) -> str | None:
        engine = images.runtime_of(node)
        if ref in self.missing_images:
            if engine == "docker":
                return (f"rpc error: code = Unknown desc = Error response from daemon: manifest for "
                        f"{images.status_image(image, 'docker')} not found: manifest unknown: manifest unknown")
            return (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to resolve '
                    f'reference "{ref}": {ref}: not found')
        if node_os(node) == "linux" and images.image_os(ref) == "windows":
            if engine == "docker":
                return ("rpc error: code = Unknown desc = Error response from daemon: no matching manifest for "
                        "linux/amd64 in the manifest list entries")
            return (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": no match for '
                    "platform in manifest: not found")
        return None

    def _node_cache(self, node_name: str) -> set[str]:
        cache = self._cache.get(node_name)
        if cache is None:
            node = self.ctx.node(node_name) or {}
            cache = set()
            for img in (node.get("status") or {}).get("images") or []:
                for n in img.get("names") or []:
                    if "@" not in n:
                        cache.add(images.normalize(n))
            self._cache[node_name] = cache
        return cache

    def _base_status(self, pod: dict, node: dict) -> dict:
        st = copy.deepcopy(pod.get("status") or {})
        st.setdefault("phase", "Pending")
        if st["phase"] not in ("Pending", "Running"):
            st["phase"] = "Pending"
        hip = node_ip(node)
        if hip:
            st["hostIP"] = hip
            if (node.get("status") or {}).get("addresses"):
                st["hostIPs"] = [{"ip": hip}]
        st.setdefault("startTime", now_iso())
        st.setdefault("qosClass", "BestEffort")
        conds = st.setdefault("conditions", [])
        set_condition(conds, "PodScheduled", "True")
        return st

    def _set_waiting(self, st: dict, pod: dict, engine: str,
                     waiting: dict[str, tuple[str, str | None]]) -> None:
        conds = st["conditions"]
        inits = pod["spec"].get("initContainers") or []
        init_waiting = [c["name"] for c in inits if c["name"] in waiting]
        if inits:
            set_condition(conds, "Initialized", "False" if init_waiting else "True",
                          "ContainersNotInitialized" if init_waiting else None,
                          f"containers with incomplete status: [{' '.join(init_waiting)}]" if init_waiting else None)
            st["initContainerStatuses"] = [self._cstatus(c, engine, waiting.get(c["name"]), pod, init=True)
                                           for c in inits]
        else:
            set_condition(conds, "Initialized", "True")
        names = [c["name"] for c in pod["spec"]["containers"]]
        msg = f"containers with unready status: [{' '.join(names)}]"
        set_condition(conds, "Ready", "False", "ContainersNotReady", msg)
        set_condition(conds, "ContainersReady", "False", "ContainersNotReady", msg)
        st["containerStatuses"] = [
            self._cstatus(c, engine, waiting.get(c["name"], ("ContainerCreating", None)), pod)
            for c in pod["spec"]["containers"]]
        st["phase"] = "Pending"
        _sort_conditions(conds)

    def _cstatus(self, c: dict, engine: str, wait: tuple[str, str | None] | None, pod: dict,
                 init: bool = False) -> dict:
        image = c.get("image") or ""
        if wait is None and init:
            return {"name": c["name"], "image": images.status_image(image, engine),
                    "imageID": images.image_id(image, engine), "containerID": container_id(pod, c, engine),
                    "ready": True, "restartCount": 0, "started": False,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now_iso(),
                                             "finishedAt": now_iso(), "containerID": container_id(pod, c, engine)}},
                    "lastState": {}}
        reason, message = wait or ("ContainerCreating", None)
        w: dict[str, Any] = {"reason": reason}
        if message:
            w["message"] = message
        return {"name": c["name"], "image": image, "imageID": "", "ready": False, "restartCount": 0,
                "started": False, "state": {"waiting": w}, "lastState": {}}

    def _run(self, pod: dict, node: dict, st: dict, engine: str) -> None:
        node_name = node["metadata"]["name"]
        prev = {cs["name"]: cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        conds = st["conditions"]
        now = now_iso()
        if pod["spec"].get("initContainers"):
            st["initContainerStatuses"] = [self._cstatus(c, engine, None, pod, init=True)
                                           for c in pod["spec"]["initContainers"]]
        statuses = []
        for c in pod["spec"]["containers"]:
            old = prev.get(c["name"]) or {}
            if (old.get("state") or {}).get("running"):
                statuses.append(old)
                continue
            cid = container_id(pod, c, engine)
            self.ctx.events.record(pod, "Normal", "Created", f"Created container {c['name']}", component="kubelet",
                                   host=node_name, field_path=_field(pod, c))
            self.ctx.events.record(pod, "Normal", "Started", f"Started container {c['name']}", component="kubelet",
                                   host=node_name, field_path=_field(pod, c))
            statuses.append({"name": c["name"], "image": images.status_image(c.get("image") or "", engine),
                             "imageID": images.image_id(c.get("image") or "", engine), "containerID": cid,
                             "ready": True, "restartCount": 0, "started": True,
                             "state": {"running": {"startedAt": now}}, "lastState": {}})
        st["containerStatuses"] = statuses
        st["phase"] = "Running"
        set_condition(conds, "Initialized", "True")
        set_condition(conds, "Ready", "True")
        set_condition(conds, "ContainersReady", "True")
        _sort_conditions(conds)
        self._retry.pop((meta(pod)["namespace"], meta(pod)["name"]), None)

    def _write(self, pod: dict, status: dict) -> None:
        if status == pod.get("status"):
            return

        def put(p: dict) -> None:
            p["status"] = status
        self.ctx.store.mutate(self.ctx.rt("", "pods"), meta(pod)["namespace"], meta(pod)["name"], put,
                              subresource="status")

    # --- pods that run to completion ----------------------------------------------------------------------------
    async def _run_to_completion(self, key: tuple[str, str], uid: str) -> None:
        """A pod with restartPolicy Never/OnFailure (a Job's): each container's command runs in the emulated shell
        (its output becomes the container's log); once all have exited the pod is Succeeded, or Failed when one
        exited non-zero. A container without a command runs its image's entrypoint: busybox/alpine's `sh` exits at
        once, a server image runs until it is deleted."""
        pods = self.ctx.rt("", "pods")
        try:
            pod = self.ctx.store.try_get(pods, *key)
            if pod is None or meta(pod)["uid"] != uid:
                return
            codes: dict[str, int] = {}
            for c in pod["spec"].get("containers") or []:
                argv = list(c.get("command") or []) + list(c.get("args") or [])
                if not argv:
                    if images.short_name(c.get("image") or "") not in ("busybox", "alpine"):
                        return  # a long-running entrypoint: the pod stays Running
                    argv = ["sh"]
                result = await self.ctx.kube.exec_runtime(pod, c["name"], argv, b"")
                net = getattr(getattr(self.ctx.kube, "controllers", None), "network", None)
                if net is not None:
                    text = (result.stdout + result.stderr).decode(errors="replace")
                    net.access_log.setdefault((uid, c["name"]), []).extend(text.splitlines())
                codes[c["name"]] = result.exit_code
            pod = self.ctx.store.try_get(pods, *key)
            if pod is None or meta(pod)["uid"] != uid or meta(pod).get("deletionTimestamp"):
                return
            status = copy.deepcopy(pod.get("status") or {})
            now = now_iso()
            for cs in status.get("containerStatuses") or []:
                code = codes.get(cs["name"], 0)
                started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", now)
                cs.update(ready=False, started=False, state={"terminated": {
                    "exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
                    "finishedAt": now, "containerID": cs.get("containerID", "")}})
            failed = any(codes.values())
            status["phase"] = "Failed" if failed else "Succeeded"
            for c in status.get("conditions") or []:
                if c.get("type") in ("Ready", "ContainersReady"):
                    c.update(status="False", reason="PodCompleted", lastTransitionTime=now)
            self._write(pod, status)
        finally:
            self._completing.discard(uid)

    # --- graceful termination ----------------------------------------------------------------------------------
    def _kill(self, key: tuple[str, str]) -> None:
        """A pod got a deletionTimestamp: stop its containers (SIGTERM; they exit within STOP_SECONDS, or are
        killed when the grace period ends first), post their terminated state, then finish the deletion with
        grace 0 — what the kubelet's pod workers and status manager do. Pods on a node without a runtime (a
        stopped or unknown kubelet) stay Terminating, as on a real cluster."""
        pod = self.ctx.store.try_get(self.ctx.rt("", "pods"), *key)
        if pod is None or not meta(pod).get("deletionTimestamp"):
            return
        uid = meta(pod)["uid"]
        node_name = (pod.get("spec") or {}).get("nodeName")
        if uid in self._terminating or self.ctx.runtimes.get(node_name) is None:
            return
        self._terminating.add(uid)
        grace = float(meta(pod).get("deletionGracePeriodSeconds") or 0)
        self.ctx.runner.spawn(self._stop_pod(key, uid, min(grace, _stop_seconds(pod, grace))))

    async def _stop_pod(self, key: tuple[str, str], uid: str, seconds: float) -> None:
        pods = self.ctx.rt("", "pods")
        try:
            if seconds > 0:
                await self.ctx.clock.sleep(seconds)
            pod = self.ctx.store.try_get(pods, *key)
            if pod is None or meta(pod)["uid"] != uid:
                return
            status = copy.deepcopy(pod.get("status") or {})
            now = now_iso()
            for cs in status.get("containerStatuses") or []:
                state = cs.get("state") or {}
                if "terminated" in state:
                    continue
                started = (state.get("running") or {}).get("startedAt")
                term: dict[str, Any] = {"exitCode": 0 if started else 137,
                                        "reason": "Completed" if started else "ContainerStatusUnknown",
                                        "finishedAt": now}
                if started:
                    term["startedAt"] = started
                    term["containerID"] = cs.get("containerID", "")
                else:
                    term["message"] = "The container could not be located when the pod was terminated"
                cs.update(ready=False, started=False, state={"terminated": term})
            for c in status.get("conditions") or []:
                if c.get("type") in ("Ready", "ContainersReady") and c.get("status") == "True":
                    c.update(status="False", reason="ContainersNotReady", lastTransitionTime=now)
            self._write(pod, status)
            self.ctx.store.delete(pods, key[0], key[1], grace_period=0)
        except (NotFound, Conflict):  # the pod went away or changed meanwhile: nothing left to do
            pass
        finally:
            self._terminating.discard(uid)

    def _pod_gone(self, key: tuple[str, bool]) -> None:
        uid, host_net = key
        self._pulled.pop(uid, None)
        for k in [k for k in self._pull_errors if k[0] == uid]:
            self._pull_errors.pop(k, None)
        for pull in self._pulls.values():
            pull.waiters = {w for w in pull.waiters if w[0] != uid}
        if not host_net and self.ctx.calico_store() is not None:
            self.ipam.release(pod_handle(uid))


def _stop_seconds(pod: dict, grace: float) -> float:
    """How long a pod's containers take to exit on SIGTERM: `sleep` run as PID 1 has no handler for it and lives
    until the grace period ends (the kubelet then kills it); other processes exit within STOP_SECONDS."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        argv = list(c.get("command") or []) + list(c.get("args") or [])
        if argv and argv[0].rsplit("/", 1)[-1] == "sleep":
            return grace
    return STOP_SECONDS


def pod_handle(uid: str) -> str:
    """The IPAM handle of a pod's sandbox: `k8s-pod-network.<sandbox id>`."""
    return f"k8s-pod-network.{sandbox_id(uid)}"


def sandbox_id(uid: str) -> str:
    return hashlib.sha256(f"sandbox-{uid}".encode()).hexdigest()


def container_id(pod: dict, c: dict, engine: str) -> str:
    digest = hashlib.sha256(f"{meta(pod).get('uid')}/{c['name']}".encode()).hexdigest()
    return f"{engine}://{digest}"


def sandbox_error(pod: dict, engine: str, message: str) -> str:
    """FailedCreatePodSandBox text as dockershim (docker) or containerd print it around a CNI error."""
    sid = sandbox_id(meta(pod)["uid"])
    name, ns = meta(pod)["name"], meta(pod)["namespace"]
    if engine == "docker":
        return (f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container '
                f'"{sid}" network for pod "{name}": networkPlugin cni failed to set up pod "{name}_{ns}" network: '
                f"{message}")
    return (f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox '
            f'"{sid}": plugin type="calico" failed (add): {message}')


def _field(pod: dict, c: dict) -> str:
    inits = {x["name"] for x in pod["spec"].get("initContainers") or []}
    return f"spec.{'initContainers' if c['name'] in inits else 'containers'}{{{c['name']}}}"


def _field_for_image(pod: dict, image: str) -> str:
    for c in list(pod["spec"].get("initContainers") or []) + list(pod["spec"].get("containers") or []):
        if c.get("image") == image:
            return _field(pod, c)
    return "spec.containers"


def _minor(version: str) -> int:
    try:
        return int(version.lstrip("v").split(".")[1])
    except (IndexError, ValueError):
        return 22


def _node_changed(old: dict, new: dict) -> bool:
    """Did anything the kubelet model cares about change (readiness, taints, labels, addresses)?"""
    def view(n: dict) -> tuple:
        st = n.get("status") or {}
        ready = next((c.get("status") for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
        return (ready, (n.get("spec") or {}).get("taints"), (n.get("metadata") or {}).get("labels"),
                st.get("addresses"), (st.get("nodeInfo") or {}).get("containerRuntimeVersion"))
    return view(old) != view(new)


_COND_ORDER = {"Initialized": 0, "Ready": 1, "ContainersReady": 2, "PodScheduled": 3}


def _sort_conditions(conds: list[dict]) -> None:
    conds.sort(key=lambda c: _COND_ORDER.get(c.get("type"), 9))
