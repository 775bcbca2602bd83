"""What the Calico for Windows services do once started: CalicoNode (node-service.ps1 + `calico-node -startup`),
CalicoFelix (felix-service.ps1) and CalicoConfd (BGP).

CalicoNode, on its first run after a boot, deletes the non-NAT HNS networks, waits for a usable IPv4 address,
creates the `External` HNS network (creating the vSwitch drops the host's open WinRM connections), waits for its
management IP and 10 s, then stores the boot time in `HKLM:\\Software\\Tigera\\Calico` `LastBootTime` — the signal
the installer, Felix and kubelet wait for. Then, whenever kubelet (re)starts, it runs `calico-node -startup`:
with the calico-kube-config credential it reads this host's Node, claims an IPAM block (Windows needs strict
affinity; VXLAN needs a VXLAN-enabled pool for the tunnel address), creates the pod network `Calico` and the host
endpoint `Calico_ep`, and annotates the Node. Failures are logged to `C:\\CalicoWindows\\logs\\calico-node.err.log`
and retried, as the real loop does.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from lab.windows.host import FirewallRule, IPAddressEntry, NetAdapter, ServiceStartFailed

from .config import evaluate
from .kubeapi import ApiFailure, HostApiClient, KubeconfigInvalid, parse_kubeconfig
from .releases import CALICO_VERSIONS, CalicoRelease, release
from .runtime import CALICO_REG_KEY, CALICO_ROOT, HostRuntime, klog_time

VXLAN_TUNNEL_HANDLE = "vxlan-tunnel-addr-{node}"
HNS_CREATE_SECONDS = 6.0
MGMT_IP_SETTLE_SECONDS = 10.0


class CalicoServices:
    """The behaviours of CalicoNode, CalicoFelix and CalicoConfd on one host."""

    def __init__(self, rt: HostRuntime) -> None:
        self.rt = rt
        self.host = rt.host
        self.felix_ready = False
        self.startup_ok = False              # the last `calico-node -startup` succeeded
        self.last_startup_error = ""
        self.tunnel_ip = ""
        self.block_cidr = ""
        self._ctx: Any = None

    def install_hooks(self) -> None:
        """Register the start/stop behaviours with the host's service manager."""
        h = self.host
        h.on_service_start["CalicoNode"] = self._start_node
        h.on_service_stop["CalicoNode"] = self._stop("CalicoNode")
        h.on_service_start["CalicoFelix"] = self._start_felix
        h.on_service_stop["CalicoFelix"] = self._stop("CalicoFelix")
        h.on_service_start["CalicoConfd"] = self._start_confd
        h.on_service_stop["CalicoConfd"] = self._stop("CalicoConfd")

    # ---- shared facts -------------------------------------------------------------------------------------------
    def installed_release(self) -> CalicoRelease | None:
        """The release whose files are in C:\\CalicoWindows (from calico-node.exe), or None."""
        from .catalog import identify

        path = CALICO_ROOT + "\\calico-node.exe"
        if not self.host.fs.is_file(path):
            return None
        found = identify(self.host.fs.read_bytes(path)[:512])
        if not found or found[1] not in CALICO_VERSIONS:
            return None
        return release(found[1])

    def config(self) -> dict[str, str]:
        """config.ps1's values as the services see them (machine env vars win for 3.23+'s Set-EnvVarIfNotSet)."""
        path = CALICO_ROOT + "\\config.ps1"
        if not self.host.fs.is_file(path):
            return {}
        rel = self.installed_release()
        preset = dict(self.host.env) if rel is not None and rel.config_if_not_set else None
        return evaluate(self.host.fs.read_text(path), root=CALICO_ROOT, hostname=self.host.computer_name,
                        containerd_running=self.containerd_running(), preset=preset)

    def containerd_running(self) -> bool:
        """`Get-IsContainerdRunning`: the containerd service exists and runs."""
        return self.rt.service_running("containerd")

    def initialised(self) -> bool:
        """Stored LastBootTime equals the current boot time (what Wait-ForCalicoInit waits for)."""
        stored = self.host.registry.try_get_value(CALICO_REG_KEY, "LastBootTime")
        return stored == self.host.boot_time_text()

    def log_dir(self, cfg: dict[str, str] | None = None) -> str:
        cfg = cfg if cfg is not None else self.config()
        return cfg.get("CALICO_LOG_DIR") or CALICO_ROOT + "\\logs"

    def _log(self, name: str, line: str, *, err: bool = False, cfg: dict | None = None) -> None:
        suffix = ".err.log" if err else ".log"
        path = f"{self.log_dir(cfg)}\\{name}{suffix}"
        try:
            self.rt.append_log(path, line)
        except Exception:  # noqa: BLE001 - a full disk or a removed directory loses log lines, as on Windows
            pass

    def cluster(self) -> Any:
        """The controllers' view of the cluster (pools, Felix, IPAM, Calico datastore), or None without a lab."""
        kube = self.rt.kube
        if kube is None:
            return None
        ctx = getattr(getattr(kube, "controllers", None), "ctx", None)
        if ctx is not None:
            return ctx
        if self._ctx is None:
            from lab.kube.controllers.context import Ctx

            self._ctx = Ctx(kube)
        return self._ctx

    def kick_pods(self) -> None:
        """Tell the cluster's kubelet model that this node's CNI state changed (pods there are re-evaluated)."""
        if self.rt.kubelet is not None:
            self.rt.kubelet.poke()
        kube = self.rt.kube
        kubelet = getattr(getattr(kube, "controllers", None), "kubelet", None)
        if kubelet is not None and hasattr(kubelet, "kick"):
            try:
                kubelet.kick(self.host.node_name)
            except Exception:  # noqa: BLE001 - a kick is advisory
                pass

    def _stop(self, name: str):
        async def stop(host: Any, svc: Any) -> None:
            self.rt.stop_service_task(name)
            if name == "CalicoFelix":
                self.felix_ready = False
            if name == "CalicoNode":
                self.startup_ok = False
            self.kick_pods()
        return stop

    def _require_files(self, *rel_paths: str) -> None:
        for p in rel_paths:
            if not self.host.fs.is_file(f"{CALICO_ROOT}\\{p}"):
                raise ServiceStartFailed(f"{CALICO_ROOT}\\{p} not found")

    # ---- CalicoNode ---------------------------------------------------------------------------------------------
    async def _start_node(self, host: Any, svc: Any) -> None:
        self._require_files("node\\node-service.ps1", "config.ps1", "calico-node.exe")
        self.startup_ok = False
        self.rt.run_service("CalicoNode", self._node_main())

    async def _node_main(self) -> None:
        host = self.host
        cfg = self.config()
        log = lambda line, err=False: self._log("calico-node", line, err=err, cfg=cfg)  # noqa: E731
        current = host.boot_time_text()
        stored = host.registry.try_get_value(CALICO_REG_KEY, "LastBootTime") or ""
        log(f"StoredLastBootTime {stored}, CurrentLastBootTime {current}")
        backend = cfg.get("CALICO_NETWORKING_BACKEND", "")
        if backend in ("windows-bgp", "vxlan"):
            log(f"Calico {backend} networking enabled.")
            if stored != current:
                await self._clean_networks(log)
                await self._wait_valid_ip(cfg, log)
            log("\nStart creating vSwitch. Note: Connection may get lost for RDP, please reconnect...\n")
            await self._ensure_external(cfg, backend)
            mgmt = host.hns.network("External").management_ip if host.hns.network("External") else ""
            log(f"Management IP detected on vSwitch: {mgmt}.")
            await host.delay("hns", MGMT_IP_SETTLE_SECONDS)
        host.registry.set_value(CALICO_REG_KEY, "LastBootTime", current, "String", create_key=True)
        log(f"Stored new lastBootTime {current}")
        kubelet_gen = -1
        while True:
            gen = self._kubelet_generation()
            if gen is None:
                if kubelet_gen != -1:
                    log("Kubelet not running, waiting for Kubelet to start...")
                kubelet_gen = -1
            elif gen != kubelet_gen:
                log("Kubelet has (re)started, (re)initialising the node...")
                kubelet_gen = gen
                while True:
                    ok = await self._startup(cfg)
                    self.startup_ok = ok
                    self.kick_pods()
                    if ok:
                        log("Calico node initialisation succeeded; monitoring kubelet for restarts...")
                        break
                    log("Calico node initialisation failed, will retry...")
                    await host.clock.sleep(1.0)
                    cfg = self.config()
                    if self._kubelet_generation() != kubelet_gen:
                        kubelet_gen = -2
                        break
            await host.clock.sleep(10.0)

    def _kubelet_generation(self) -> int | None:
        """Changes each time kubelet's process (re)starts; None while kubelet is not running."""
        if not self.rt.service_running("kubelet"):
            return None
        kubelet = self.rt.kubelet
        return getattr(kubelet, "generation", 0) if kubelet is not None else 0

    async def _clean_networks(self, log: Any) -> None:
        host = self.host
        stale = [n for n in host.hns.networks if n.type.lower() != "nat"]
        if not stale:
            return
        log("First time Calico has run since boot up, cleaning out any old network state.")
        for n in stale:
            host.hns.delete_network(n.id)
        log("Waiting for network deletion to complete.")
        await host.clock.sleep(1.0)

    async def _wait_valid_ip(self, cfg: dict[str, str], log: Any) -> None:
        host = self.host
        try:
            timeout = int(cfg.get("STARTUP_VALID_IP_TIMEOUT") or 90)
        except ValueError:
            timeout = 90
        while True:
            addrs = [a.ip_address for a in host.ip_addresses if a.address_family == "IPv4"]
            log(f"\nTimeout Remaining: {timeout} sec")
            log(f"List of IP Address before initialising Calico: {' '.join(addrs)}")
            valid = [ip for ip in addrs if not ip.startswith(("127.", "169.254."))]
            if valid:
                log(f"\nFound valid IP: {valid[0]}")
                return
            if timeout <= 0:
                return
            await host.clock.sleep(5.0)
            timeout -= 5

    async def _ensure_external(self, cfg: dict[str, str], backend: str) -> None:
        """Create the `External` network if absent; creating the vSwitch drops the WinRM connections."""
        host = self.host
        if host.hns.network("External") is not None:
            return
        adapter = cfg.get("VXLAN_ADAPTER", "")
        phys = next((a for a in host.adapters if not a.virtual), None)
        if backend == "vxlan" and host.firewall_rule("OverlayTraffic4789UDP") is None:
            host.add_firewall_rule(FirewallRule("OverlayTraffic4789UDP", "Overlay Traffic 4789 UDP",
                                                protocol="UDP", local_port="4789"))
        await host.delay("hns", HNS_CREATE_SECONDS)
        net_type = "Overlay" if backend == "vxlan" else "L2Bridge"
        extra = {"SubnetPolicies": [{"Type": "VSID", "VSID": 9999}]} if backend == "vxlan" else {}
        host.hns.create_network(
            "External", net_type, subnets=[{"AddressPrefix": "192.168.255.0/30", "GatewayAddress": "192.168.255.1"}],
            adapter=adapter or (phys.name if phys else "Ethernet"), management_ip=host.primary_ipv4(), **extra)
        self._move_ip_to_vswitch(phys)
        # Creating the vSwitch resets the NIC: every open RDP/WinRM connection drops (once per vSwitch). A
        # `drop_during: hns-create` fault names this very drop: it is consumed, not added as a second one.
        host.faults.take_drop("hns-create")
        host.drop_connections()

    def _move_ip_to_vswitch(self, phys: Any) -> None:
        """The host's address moves to `vEthernet (<NIC>)`, as the Hyper-V switch takes over the adapter."""
        host = self.host
        if phys is None:
            return
        vname = f"vEthernet ({phys.name})"
        if any(a.name == vname for a in host.adapters):
            return
        idx = max((a.if_index for a in host.adapters), default=1) + 1
        host.add_adapter(NetAdapter(vname, "Hyper-V Virtual Ethernet Adapter", idx, phys.mac_address, "Up",
                                    phys.link_speed, virtual=True))
        for a in list(host.ip_addresses):
            if a.interface_alias == phys.name and a.address_family == "IPv4":
                host.ip_addresses.remove(a)
                host.add_ip_address(IPAddressEntry(a.ip_address, a.prefix_length, vname, idx, "IPv4",
                                                   a.prefix_origin, a.address_state))

    # ---- calico-node -startup -----------------------------------------------------------------------------------
    async def _startup(self, cfg: dict[str, str]) -> bool:
        """One `calico-node.exe -startup` run; False (with the reason logged) when it fails."""
        node = cfg.get("NODENAME") or self.host.node_name
        err = lambda m: self._log("calico-node", f"{klog_time()} [ERROR][{_pid()}] startup/startup.go: {m}",  # noqa
                                  err=True, cfg=cfg)
        info = lambda m: self._log("calico-node", f"{klog_time()} [INFO][{_pid()}] startup/startup.go: {m}",  # noqa
                                   cfg=cfg)
        self.last_startup_error = ""

        def fail(message: str) -> bool:
            self.last_startup_error = message
            err(message)
            return False

        if self.rt.kube is None:
            return fail("no datastore available to this host (the lab has no cluster attached)")
        if (cfg.get("CALICO_DATASTORE_TYPE") or "kubernetes") == "kubernetes":
            path = cfg.get("KUBECONFIG") or CALICO_ROOT + "\\calico-kube-config"
            fs = self.host.fs
            if not fs.is_file(path):
                return fail(f"Failed to load kubeconfig: stat {path}: The system cannot find the file specified.")
            try:
                cred = parse_kubeconfig(fs.read_text(path), read_file=fs.read_bytes)
                client = HostApiClient(cred, reachable=self._reachable, user_agent="calico-node/v3 (windows)")
                node_obj = await client.request("GET", f"/api/v1/nodes/{node}")
            except KubeconfigInvalid as exc:
                return fail(f"Failed to create datastore client: {exc.message}")
            except ApiFailure as exc:
                if exc.status == 404:
                    return fail(f"Unable to query node configuration error=resource does not exist: Node({node}) "
                                f'with error: nodes "{node}" not found')
                if exc.status == 401:
                    return fail("Unable to query node configuration error=Unauthorized")
                return fail(f"Unable to query node configuration error={exc.kubectl_message}")
        else:
            node_obj = self._store_node(node)
            if node_obj is None:
                return fail(f"Unable to query node configuration error=resource does not exist: Node({node})")
        info("Checking datastore connection")
        info("Datastore connection verified")
        backend = cfg.get("CALICO_NETWORKING_BACKEND", "")
        ip = self.host.primary_ipv4()
        annotations = {"projectcalico.org/IPv4Address": f"{ip}/24" if ip else ""}
        if backend == "vxlan":
            got = self._claim_tunnel_address(node_obj)
            if isinstance(got, str):
                return fail(got)
            self.block_cidr, self.tunnel_ip = got
            annotations["projectcalico.org/IPv4VXLANTunnelAddr"] = self.tunnel_ip
            self._ensure_pod_network("Overlay", cfg)
        elif backend == "windows-bgp":
            self._ensure_pod_network("L2Bridge", cfg)
        self._annotate_node(node, annotations)
        self.host.fs.write_text(CALICO_ROOT + "\\nodename", node)
        info(f"Using node name: {node}")
        return True

    def _reachable(self, host: str, port: int) -> bool:
        return not self.host.reachable or self.host.tcp_reachable(host, port)

    def _store_node(self, name: str) -> dict | None:
        kube = self.rt.kube
        rt = kube.registry.get("", "nodes")
        return kube.store.try_get(rt, None, name) if rt is not None else None

    def _claim_tunnel_address(self, node_obj: dict) -> tuple[str, str] | str:
        """(block CIDR, tunnel IP) for this node, or the error Calico logs."""
        ctx = self.cluster()
        if ctx is None or ctx.calico_store() is None:
            return "Failed to get IP pools: the Calico datastore is not available"
        from lab.kube.controllers.ipam import CalicoIpam, IpamError

        ipam = CalicoIpam(ctx)
        strict, _auto, _max = ipam.config()
        if not strict:
            return "Unable to autoassign an address error=" + _strict_message()
        vxlan_pools = [p for p in ipam.pools_for(node_obj)
                       if (p.get("spec") or {}).get("vxlanMode", "Never") in ("Always", "CrossSubnet")]
        node = node_obj["metadata"]["name"]
        if not vxlan_pools:
            return (f"VXLAN tunnel address not assigned for node {node}: no IP pool with VXLAN enabled "
                    f"(waiting for a VXLAN tunnel address)")
        handle = VXLAN_TUNNEL_HANDLE.format(node=node)
        try:
            ip = ipam.assign(node_obj, handle, {"node": node, "type": "vxlanTunnelAddress",
                                                "_pod": {"metadata": {"annotations": {
                                                    "cni.projectcalico.org/ipv4pools":
                                                        _json_list([p["metadata"]["name"] for p in vxlan_pools])}}}},
                             windows=True)
        except IpamError as exc:
            return f"Unable to autoassign an address error={exc}"
        block = next((b for b in ctx.calico_list("ipamblocks")
                      if ipaddress.ip_address(ip) in ipaddress.ip_network(b["spec"]["cidr"])), None)
        return (block["spec"]["cidr"] if block else f"{ip}/32", ip)

    def _ensure_pod_network(self, net_type: str, cfg: dict[str, str]) -> None:
        """HNS network `Calico` for the node's block and the host endpoint `Calico_ep` on it."""
        host = self.host
        try:
            vni = int(cfg.get("VXLAN_VNI") or 4096)
        except ValueError:
            vni = 4096
        net = host.hns.network("Calico")
        cidr = self.block_cidr or "0.0.0.0/0"
        if net is not None and (net.type != net_type or (net.extra.get("VSID") != vni and net_type == "Overlay")):
            host.hns.delete_network(net.id)
            net = None
        if net is None:
            gw = str(ipaddress.ip_network(cidr).network_address + 1) if self.block_cidr else ""
            extra = {"VSID": vni, "VXLANPort": 4789} if net_type == "Overlay" else {}
            host.hns.create_network("Calico", net_type, subnets=[{"AddressPrefix": cidr, "GatewayAddress": gw}],
                                    adapter=cfg.get("VXLAN_ADAPTER", ""), management_ip=host.primary_ipv4(), **extra)
        if host.hns.endpoint("Calico_ep") is None:
            ep_ip = self.tunnel_ip or (str(ipaddress.ip_network(cidr).network_address + 2) if self.block_cidr else "")
            host.hns.create_endpoint("Calico_ep", "Calico", ep_ip)

    def _annotate_node(self, name: str, annotations: dict[str, str]) -> None:
        kube = self.rt.kube
        rt = kube.registry.get("", "nodes")
        if rt is None or kube.store.try_get(rt, None, name) is None:
            return

        def edit(obj: dict) -> None:
            obj["metadata"].setdefault("annotations", {}).update({k: v for k, v in annotations.items() if v})
        try:
            kube.store.mutate(rt, None, name, edit)
        except Exception:  # noqa: BLE001 - a conflicting write is retried on the next kubelet restart
            pass

    # ---- CalicoFelix --------------------------------------------------------------------------------------------
    async def _start_felix(self, host: Any, svc: Any) -> None:
        self._require_files("felix\\felix-service.ps1", "config.ps1", "calico-node.exe")
        self.felix_ready = False
        self.rt.run_service("CalicoFelix", self._felix_main())

    async def _felix_main(self) -> None:
        cfg = self.config()
        while not self.initialised():
            await self.host.clock.sleep(1.0)
        self._log("calico-felix", f"{klog_time()} [INFO][{_pid()}] felix/daemon.go: Felix starting up", cfg=cfg)
        self.felix_ready = True
        self.kick_pods()

    # ---- CalicoConfd --------------------------------------------------------------------------------------------
    async def _start_confd(self, host: Any, svc: Any) -> None:
        self._require_files("confd\\confd-service.ps1", "config.ps1", "calico-node.exe")
        self.rt.run_service("CalicoConfd", self._confd_main())

    async def _confd_main(self) -> None:
        cfg = self.config()
        while not self.initialised():
            await self.host.clock.sleep(1.0)
        if cfg.get("CALICO_NETWORKING_BACKEND") == "windows-bgp":
            self._log("calico-confd", "Windows BGP is enabled, running confd...", cfg=cfg)
        else:
            self._log("calico-confd", "Windows BGP is disabled, not running confd.", cfg=cfg)


def _strict_message() -> str:
    from lab.kube.controllers.ipam import STRICT_AFFINITY_MESSAGE

    return STRICT_AFFINITY_MESSAGE


def _json_list(items: list[str]) -> str:
    import json

    return json.dumps(items)


def _pid() -> int:
    return 4728


async def wait_for_calico_init(services: CalicoServices, io: Any) -> None:
    """`Wait-ForCalicoInit`: print the waiting lines every (emulated) second until LastBootTime is stored.
    No timeout, as in calico.psm1."""
    host = services.host
    io.host("Waiting for Calico initialisation to finish...")
    while True:
        stored = host.registry.try_get_value(CALICO_REG_KEY, "LastBootTime") or ""
        current = host.boot_time_text()
        if stored == current:
            break
        io.host(f"Waiting for Calico initialisation to finish...StoredLastBootTime {stored}, "
                f"CurrentLastBootTime {current}")
        await host.clock.sleep(1.0)
    io.host("Calico initialisation finished.")

