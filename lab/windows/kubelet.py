"""kubelet and kube-proxy on an emulated Windows host, and the host's `NodeRuntime` for the cluster model.

`Start-Service kubelet` runs what kubelet-service.ps1 runs: wait for Calico's initialisation, find the node IP on
the `vEthernet (Ethernet*)` adapter, then `c:\\k\\kubelet.exe --kubeconfig=c:\\k\\config --hostname-override=<node>`
— which registers Node `<lowercased hostname>` through the real API with whatever credential `c:\\k\\config` holds
(an invalid or expired one: no Node, and `c:\\k\\kubelet.err.log` says why), and keeps the Node's Ready condition
up to date: Ready only while the CNI is usable (CalicoNode and CalicoFelix running with the VXLAN backend, the
node's `Calico` network and `Calico_ep` endpoint created, VNI and port as the cluster's FelixConfiguration says),
otherwise NotReady with the container runtime's "network plugin not ready" message. Status is written only when
it changes (the lab has no node lifecycle controller that would expect heartbeats).

`Start-Service kube-proxy` waits for the HNS network `Calico` (and, on an overlay, the endpoint `Calico_ep`).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import uuid
from typing import Any

from lab.windows.host import ServiceStartFailed
from lab.windows.installers.catalog import identify
from lab.windows.installers.kubeapi import ApiFailure, HostApiClient, KubeconfigInvalid, parse_kubeconfig
from lab.windows.installers.runtime import CALICO_ROOT, KUBE_DIR, HostRuntime, klog_time

KUBECONFIG = "c:\\k\\config"
HEARTBEAT_SECONDS = 10.0
REGISTER_RETRY_SECONDS = 7.0
CONTAINERD_NOT_READY = "Network plugin returns error: cni plugin not initialized"
DOCKER_NOT_READY = "docker: network plugin is not ready: cni config uninitialized"
NOT_READY_PREFIX = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:"
OS_MISMATCH = "The container operating system does not match the host operating system."

# Windows container image tags → the OS build they need.
_TAG_BUILDS = {"ltsc2019": 17763, "1809": 17763, "ltsc2022": 20348, "2022": 20348, "1903": 18362, "1909": 18363,
               "2004": 19041, "20h2": 19042, "ltsc2016": 14393, "1607": 14393, "1803": 17134, "1709": 16299}


def _caption_image(caption: str) -> str:
    """kubelet's osImage: the OS caption without the "Microsoft " prefix."""
    return caption[len("Microsoft "):] if caption.startswith("Microsoft ") else caption


def image_os_build(image: str) -> int | None:
    """The Windows build a container image's tag targets (ltsc2019 → 17763), or None when not Windows-specific."""
    tag = image.rsplit("/", 1)[-1]
    tag = tag.split("@", 1)[0]
    tag = tag.split(":", 1)[1].lower() if ":" in tag else ""
    for part in tag.replace("_", "-").split("-"):
        if part in _TAG_BUILDS:
            return _TAG_BUILDS[part]
    return None


class WindowsNodeRuntime:
    """What the cluster model asks of this Windows node (the `NodeRuntime` protocol)."""

    os = "windows"

    def __init__(self, kubelet: "WindowsKubelet") -> None:
        self.kubelet = kubelet
        self.node_name = kubelet.node_name

    def cni_ready(self) -> tuple[bool, str]:
        """(True, "") when pods can get a network here; else (False, the runtime's network-not-ready message)."""
        problem = self.kubelet.cni_problem()
        if problem is None:
            return True, ""
        return False, self.kubelet.not_ready_message()

    def pod_start_error(self, pod: dict) -> str | None:
        """The runtime's error when a container image's Windows build differs from the host's."""
        host_build = self.kubelet.host.os.build_number
        for c in (pod.get("spec") or {}).get("containers") or []:
            build = image_os_build(c.get("image") or "")
            if build is not None and build != host_build:
                cid = hashlib.sha256(f"{pod['metadata'].get('uid')}/{c.get('name')}".encode()).hexdigest()
                if self.kubelet.host.runtime.kind == "docker":
                    return (f"Error response from daemon: hcsshim::CreateComputeSystem {cid}: {OS_MISMATCH}")
                return (f"failed to create containerd task: failed to create shim task: hcs::CreateComputeSystem "
                        f"{cid}: {OS_MISMATCH}: unknown")
        return None

    def overlay(self) -> str | None:
        """"vxlan" once the VXLAN pod network is up; "bgp" with the windows-bgp backend; else None."""
        cfg = self.kubelet.calico_config()
        backend = cfg.get("CALICO_NETWORKING_BACKEND", "")
        calico = self.kubelet.rt.calico
        if calico is None or not self.kubelet.rt.service_running("CalicoNode"):
            return None
        if backend == "vxlan" and calico.startup_ok:
            return "vxlan"
        if backend == "windows-bgp":
            return "bgp"
        return None

    def policy_enforced(self) -> bool:
        """Felix runs (and has finished waiting for Calico's initialisation) on this node."""
        calico = self.kubelet.rt.calico
        return bool(calico is not None and calico.felix_ready and self.kubelet.rt.service_running("CalicoFelix"))

    def requires_strict_affinity(self) -> bool:
        """Calico IPAM on Windows refuses to allocate with strict affinity off."""
        return True

    def service_proxy_ready(self) -> bool:
        """kube-proxy runs here and has programmed Services (pods here reach ClusterIPs); the network model asks."""
        return bool(self.kubelet.proxy_ready and self.kubelet.rt.service_running("kube-proxy"))

    async def exec(self, pod: dict, container: str, argv: list[str]) -> Any:
        """None: the cluster's network model answers execs (powershell iwr / Invoke-WebRequest included)."""
        return None


class WindowsKubelet:
    """The kubelet and kube-proxy services of one host."""

    def __init__(self, rt: HostRuntime) -> None:
        self.rt = rt
        self.host = rt.host
        self.generation = 0               # +1 per kubelet process start (CalicoNode re-runs startup on change)
        self.registered = False
        self.proxy_ready = False
        self.last_error = ""
        self.version = ""
        self._poke = asyncio.Event()
        self._last_status: dict | None = None
        self.runtime = WindowsNodeRuntime(self)

    @property
    def node_name(self) -> str:
        """The Kubernetes node name: config.ps1's NODENAME, else the lowercased hostname."""
        return self.calico_config().get("NODENAME") or self.host.node_name

    def calico_config(self) -> dict[str, str]:
        calico = self.rt.calico
        return calico.config() if calico is not None else {}

    def install_hooks(self) -> None:
        h = self.host
        h.on_service_start["kubelet"] = self._start_kubelet
        h.on_service_stop["kubelet"] = self._stop_kubelet
        h.on_service_start["kube-proxy"] = self._start_proxy
        h.on_service_stop["kube-proxy"] = self._stop_proxy

    def poke(self) -> None:
        """Re-evaluate the node status now (the CNI state changed)."""
        self._poke.set()

    # ---- logs -------------------------------------------------------------------------------------------------
    def _log(self, service: str, line: str, *, err: bool = False) -> None:
        path = f"{KUBE_DIR}\\{service}.{'err' if err else 'out'}.log"
        try:
            self.rt.append_log(path, line)
        except Exception:  # noqa: BLE001 - a full disk loses log lines
            pass

    def _klog(self, level: str, where: str, message: str) -> None:
        self._log("kubelet", f"{level}{klog_time()}    4242 {where}] {message}", err=True)

    # ---- readiness --------------------------------------------------------------------------------------------
    def not_ready_message(self) -> str:
        """The runtime's own wording (containerd vs dockershim) after `...message:`."""
        return DOCKER_NOT_READY if self.host.runtime.kind == "docker" else CONTAINERD_NOT_READY

    def cni_problem(self) -> str | None:
        """Why pods cannot get a network on this node (a lab diagnostic), or None when the CNI is usable."""
        rt, host = self.rt, self.host
        calico = rt.calico
        if calico is None:
            return "Calico for Windows is not installed"
        # Only CalicoNode: the CNI plugin needs no Felix, so a stopped CalicoFelix leaves the node Ready and pods
        # networked, with policy unenforced there (policy_enforced() says so).
        if not rt.service_running("CalicoNode"):
            return "CalicoNode is not running"
        cfg = calico.config()
        if cfg.get("CALICO_NETWORKING_BACKEND") != "vxlan":
            return f"Calico backend is {cfg.get('CALICO_NETWORKING_BACKEND') or 'unset'}, not vxlan"
        if rt.service_running("CalicoFelix") and not calico.felix_ready:
            return "Felix is waiting for Calico's initialisation"
        if not calico.startup_ok:
            return f"calico-node -startup has not succeeded: {calico.last_startup_error or 'kubelet not started'}"
        conf = f"{cfg.get('CNI_CONF_DIR', '')}\\{cfg.get('CNI_CONF_FILENAME', '10-calico.conf')}"
        if not host.fs.is_file(conf):
            return f"no CNI configuration at {conf}"
        want_dir = self._runtime_cni_conf_dir()
        if want_dir and want_dir.lower().rstrip("\\") != cfg.get("CNI_CONF_DIR", "").lower().rstrip("\\"):
            return f"the container runtime reads CNI configuration from {want_dir}, Calico wrote {cfg['CNI_CONF_DIR']}"
        if host.hns.network("Calico") is None or host.hns.endpoint("Calico_ep") is None:
            return "HNS network Calico / endpoint Calico_ep missing"
        ctx = calico.cluster()
        if ctx is None:
            return "no cluster attached"
        felix = ctx.felix()
        if not felix.get("vxlanEnabled"):
            return "FelixConfiguration vxlanEnabled is not true: Linux nodes do not route VXLAN to this node"
        try:
            vni = int(cfg.get("VXLAN_VNI") or 4096)
        except ValueError:
            vni = -1
        if int(felix.get("vxlanVNI", 4096)) != vni:
            return f"VXLAN VNI {vni} on this node, {felix.get('vxlanVNI')} in the cluster"
        if int(felix.get("vxlanPort", 4789)) != 4789:
            return f"VXLAN port {felix.get('vxlanPort')} in the cluster; Windows only uses 4789"
        strict = ((ctx.calico_get("ipamconfigs", "default") or {}).get("spec") or {}).get("strictAffinity")
        if not strict:
            return "IPAM strictAffinity is off"
        if not any((p.get("spec") or {}).get("vxlanMode") in ("Always", "CrossSubnet") for p in ctx.enabled_pools()):
            return "no enabled IP pool uses VXLAN"
        return None

    def _runtime_cni_conf_dir(self) -> str:
        """Where the container runtime looks for CNI configuration (containerd's config.toml; docker: kubelet's
        --cni-conf-dir, which kubelet-service.ps1 sets to c:\\k\\cni\\config)."""
        if self.host.runtime.kind == "containerd":
            path = "C:\\Program Files\\containerd\\config.toml"
            if self.host.fs.is_file(path):
                for line in self.host.fs.read_text(path).splitlines():
                    if line.strip().startswith("conf_dir"):
                        return line.split("=", 1)[1].strip().strip('"').replace("\\\\", "\\")
            return ""
        return "c:\\k\\cni\\config"

    # ---- kubelet ----------------------------------------------------------------------------------------------
    async def _start_kubelet(self, host: Any, svc: Any) -> None:
        if not host.fs.is_file(CALICO_ROOT + "\\kubernetes\\kubelet-service.ps1"):
            raise ServiceStartFailed("kubelet-service.ps1 not found")
        self.generation += 1
        self._last_status = None
        host.drop_point("kubelet-start")
        self.rt.run_service("kubelet", self._kubelet_main())
        if self.rt.calico is not None:
            self.rt.calico.kick_pods()

    async def _stop_kubelet(self, host: Any, svc: Any) -> None:
        self.rt.stop_service_task("kubelet")

    async def _kubelet_main(self) -> None:
        host = self.host
        self._log("kubelet", "Running kubelet service.")
        calico = self.rt.calico
        waited = 0
        while calico is None or not calico.initialised():
            if waited % 30 == 0:
                self._log("kubelet", "Waiting for Calico initialisation to finish...")
            waited += 1
            await host.clock.sleep(1.0)
        cfg = self.calico_config()
        node = self.node_name
        self._log("kubelet", f"Using configured nodename: {node} DNS: {cfg.get('DNS_NAME_SERVERS', '')}")
        node_ip = await self._node_ip()
        while True:
            if not host.fs.is_file(KUBE_DIR + "\\kubelet.exe"):
                self._log("kubelet", "c:\\k\\kubelet.exe : The term 'c:\\k\\kubelet.exe' is not recognized as the "
                                     "name of a cmdlet, function, script file, or operable program.", err=True)
                await host.clock.sleep(REGISTER_RETRY_SECONDS)
                continue
            found = identify(host.fs.read_bytes(KUBE_DIR + "\\kubelet.exe")[:512])
            self.version = f"v{found[1]}" if found and found[1] else "v0.0.0"
            client = self._client()
            if client is None:
                await host.clock.sleep(REGISTER_RETRY_SECONDS)
                continue
            if await self._register(client, node, node_ip):
                break
            await host.clock.sleep(REGISTER_RETRY_SECONDS)
        await self._status_loop(node, node_ip)

    async def _node_ip(self) -> str:
        host = self.host
        while True:
            na = next((a for a in host.adapters if a.name.lower().startswith("vethernet (ethernet")
                       and a.status == "Up"), None)
            if na is not None:
                ip = next((a.ip_address for a in host.ip_addresses
                           if a.interface_alias == na.name and a.address_family == "IPv4"), "")
                self._log("kubelet", f"Detected node IP: {ip}.")
                return ip
            self._log("kubelet", "Waiting for interface named like 'vEthernet (Ethernet*' ...")
            await host.clock.sleep(3.0)

    def _client(self) -> HostApiClient | None:
        fs = self.host.fs
        if not fs.is_file(KUBECONFIG):
            self._klog("E", "server.go:294", '"Failed to run kubelet" err="failed to run Kubelet: invalid kubeconfig: '
                                             'stat c:\\\\k\\\\config: The system cannot find the file specified."')
            self.last_error = "kubeconfig missing"
            return None
        try:
            cred = parse_kubeconfig(fs.read_text(KUBECONFIG), read_file=fs.read_bytes)
        except KubeconfigInvalid as exc:
            self._klog("E", "server.go:294", f'"Failed to run kubelet" err="failed to run Kubelet: invalid kubeconfig: '
                                             f'{exc.message}"')
            self.last_error = exc.message
            return None

        def reachable(h: str, p: int) -> bool:
            return not self.host.reachable or self.host.tcp_reachable(h, p)
        return HostApiClient(cred, reachable=reachable,
                             user_agent=f"kubelet.exe/{self.version or 'v1'} (windows/amd64) kubernetes")

    def node_object(self, node: str, node_ip: str) -> dict:
        """The Node kubelet registers: labels, addresses, capacity and the 10-field nodeInfo."""
        host = self.host
        build = f"10.0.{host.os.build_number}"
        runtime = (f"docker://{host.runtime.version}" if host.runtime.kind == "docker"
                   else f"containerd://{host.runtime.version}" if host.runtime.kind else "")
        machine = uuid.uuid5(uuid.NAMESPACE_DNS, host.computer_name)
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {
                "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "windows",
                "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node, "kubernetes.io/os": "windows",
                "node.kubernetes.io/windows-build": build},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {},
            "status": {
                "capacity": {"cpu": "2", "ephemeral-storage": "133703676Ki", "memory": "8388148Ki", "pods": "110"},
                "allocatable": {"cpu": "2", "ephemeral-storage": "123221624947", "memory": "8285748Ki",
                                "pods": "110"},
                "conditions": self._conditions(),
                "addresses": [{"type": "InternalIP", "address": node_ip or host.primary_ipv4()},
                              {"type": "Hostname", "address": node}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": machine.hex, "systemUUID": str(machine).upper(),
                    "bootID": str(uuid.uuid5(machine, host.boot_time_iso())),
                    "kernelVersion": host.os.os_build, "osImage": _caption_image(host.os.caption),
                    "containerRuntimeVersion": runtime, "kubeletVersion": self.version,
                    "kubeProxyVersion": self.version, "operatingSystem": "windows", "architecture": "amd64"},
                "images": [],
            },
        }

    def _conditions(self) -> list[dict]:
        from lab.kube.controllers.kubelet import node_conditions
        from lab.kube.store import now_iso

        problem = self.cni_problem()
        ready = problem is None
        return node_conditions(ready=ready, now=now_iso(), message="kubelet is posting ready status" if ready
                               else NOT_READY_PREFIX + self.not_ready_message())

    async def _register(self, client: HostApiClient, node: str, node_ip: str) -> bool:
        body = self.node_object(node, node_ip)
        try:
            await client.request("POST", "/api/v1/nodes", body=body)
            self._klog("I", "kubelet_node_status.go:76", f'"Successfully registered node" node="{node}"')
        except ApiFailure as exc:
            if exc.status == 409:
                self._klog("I", "kubelet_node_status.go:110", f'"Node was previously registered" node="{node}"')
                try:
                    await client.request("PATCH", f"/api/v1/nodes/{node}", body={
                        "metadata": {"labels": body["metadata"]["labels"]}},
                        content_type="application/merge-patch+json")
                except ApiFailure as exc2:
                    return self._register_failed(node, exc2)
            else:
                return self._register_failed(node, exc)
        self.registered = True
        self.last_error = ""
        self._last_status = None
        return True

    def _register_failed(self, node: str, exc: ApiFailure) -> bool:
        err = _short_error(exc)
        self.last_error = err
        self._klog("E", "kubelet_node_status.go:93", f'"Unable to register node with API server" err="{err}" '
                                                     f'node="{node}"')
        return False

    async def _status_loop(self, node: str, node_ip: str) -> None:
        while True:
            client = self._client()
            if client is not None:
                status = {k: v for k, v in self.node_object(node, node_ip)["status"].items() if k != "images"}
                if self._changed(status):
                    try:
                        await client.request("PATCH", f"/api/v1/nodes/{node}/status", body={"status": status},
                                             content_type="application/merge-patch+json")
                        self._last_status = copy.deepcopy(status)
                        self.last_error = ""
                    except ApiFailure as exc:
                        self.last_error = _short_error(exc)
                        self._klog("E", "kubelet_node_status.go:460",
                                   f'"Error updating node status, will retry" err="{self.last_error}"')
                        if exc.status == 404:  # the Node was deleted: kubelet registers it again
                            self.registered = False
                            if not await self._register(client, node, node_ip):
                                pass
            self._poke.clear()
            try:
                await asyncio.wait_for(self._poke.wait(), self.host.clock.seconds(HEARTBEAT_SECONDS))
            except asyncio.TimeoutError:
                pass

    def _changed(self, status: dict) -> bool:
        if self._last_status is None:
            return True

        def key(s: dict) -> Any:
            conds = [(c["type"], c["status"], c.get("reason"), c.get("message")) for c in s.get("conditions", [])]
            return (conds, s.get("addresses"), s.get("nodeInfo"))
        return key(status) != key(self._last_status)

    # ---- kube-proxy -------------------------------------------------------------------------------------------
    async def _start_proxy(self, host: Any, svc: Any) -> None:
        if not host.fs.is_file(CALICO_ROOT + "\\kubernetes\\kube-proxy-service.ps1"):
            raise ServiceStartFailed("kube-proxy-service.ps1 not found")
        self.proxy_ready = False
        self.rt.run_service("kube-proxy", self._proxy_main())

    async def _stop_proxy(self, host: Any, svc: Any) -> None:
        self.proxy_ready = False
        self.rt.stop_service_task("kube-proxy")

    async def _proxy_main(self, network: str = "Calico") -> None:
        host = self.host
        log = lambda line: self._log("kube-proxy", line)  # noqa: E731
        log("Running kub-proxy service.")
        log(f"Waiting for HNS network {network} to be created...")
        while host.hns.network(network) is None:
            await host.clock.sleep(1.0)
        log(f"HNS network {network} found.")
        net = host.hns.network(network)
        if net is not None and net.type == "Overlay":
            log("Detected VXLAN network, waiting for Calico host endpoint to be created...")
            while host.hns.endpoint("Calico_ep") is None:
                await host.clock.sleep(1.0)
            log("Host endpoint found.")
        while not host.fs.is_file(KUBE_DIR + "\\kube-proxy.exe"):
            self._log("kube-proxy", "c:\\k\\kube-proxy.exe : The term 'c:\\k\\kube-proxy.exe' is not recognized as "
                                    "the name of a cmdlet, function, script file, or operable program.")
            await host.clock.sleep(REGISTER_RETRY_SECONDS)
        log("Start to run c:\\k\\kube-proxy.exe")
        while True:
            client = self._client()
            if client is not None:
                try:
                    await client.request("GET", "/api/v1/services", params={"limit": "1"})
                    self.proxy_ready = True
                    return
                except ApiFailure as exc:
                    self._log("kube-proxy", f'E{klog_time()}    5120 reflector.go:138] "Failed to watch" '
                                            f'err="failed to list *v1.Service: {_short_error(exc)}"', err=True)
            await host.clock.sleep(REGISTER_RETRY_SECONDS)


def _short_error(exc: ApiFailure) -> str:
    if exc.status == 401:
        return "Unauthorized"
    if exc.status == 0:
        return exc.kubectl_message.removeprefix("Unable to connect to the server: ")
    return (exc.body or {}).get("message") or exc.kubectl_message


def attach_kubelet(rt: HostRuntime) -> WindowsKubelet:
    """Install the kubelet/kube-proxy behaviours on `rt.host` and register its NodeRuntime with the cluster."""
    if rt.kubelet is not None:
        return rt.kubelet
    kubelet = WindowsKubelet(rt)
    rt.kubelet = kubelet
    rt.node_runtime = kubelet.runtime
    kubelet.install_hooks()
    if rt.kube is not None and hasattr(rt.kube, "register_node_runtime"):
        rt.kube.register_node_runtime(rt.host.node_name, kubelet.runtime)
    return kubelet

