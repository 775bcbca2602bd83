"""What every controller shares: the store and registry, the clock, the work runner, events, node runtimes, and
the Calico datastore (the Kubernetes API, or the etcd scenario's separate store)."""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Hashable

import yaml

from ..resources import CALICO_GROUP, ResourceType
from ..store import Store
from .events import EventRecorder
from .runner import Runner

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"


class Ctx:
    """Shared state of the controllers of one KubeLab."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube
        self.store: Store = kube.store
        self.registry = kube.registry
        self.clock = kube.clock
        self.runner = Runner()
        self.events = EventRecorder(self)
        self.runtimes = None  # set by start_controllers (kubelet.RuntimeRegistry)
        self.calico_etcd: Store | None = getattr(kube, "calico_etcd", None)

    # --- types -------------------------------------------------------------------------------------------------
    def rt(self, group: str, plural: str) -> ResourceType:
        """The served type (group, plural); KeyError when it is not served."""
        rt = self.registry.get(group, plural)
        if rt is None:
            raise KeyError(f"{plural}.{group}" if group else plural)
        return rt

    def has(self, group: str, plural: str) -> bool:
        return self.registry.get(group, plural) is not None

    def enqueue(self, name: str, fn: Callable[[Any], None], key: Hashable) -> None:
        self.runner.enqueue(name, fn, key)

    # --- namespaces, nodes ---------------------------------------------------------------------------------------
    def namespace(self, name: str) -> dict | None:
        return self.store.try_get(self.rt("", "namespaces"), None, name)

    def namespace_terminating(self, name: str) -> bool:
        ns = self.namespace(name)
        return ns is None or bool(ns["metadata"].get("deletionTimestamp"))

    def nodes(self) -> list[dict]:
        return self.store.list(self.rt("", "nodes"))

    def node(self, name: str) -> dict | None:
        return self.store.try_get(self.rt("", "nodes"), None, name)

    # --- Calico datastore ------------------------------------------------------------------------------------------
    def calico_store(self) -> Store | None:
        """Where Calico objects live: the etcd scenario's store, else the Kubernetes API when the CRDs are served."""
        if self.calico_etcd is not None:
            return self.calico_etcd
        if self.registry.get(CALICO_GROUP, "ippools") is not None:
            return self.store
        return None

    def calico_rt(self, plural: str) -> ResourceType | None:
        store = self.calico_store()
        return store.registry.get(CALICO_GROUP, plural) if store is not None else None

    def calico_list(self, plural: str) -> list[dict]:
        store, rt = self.calico_store(), self.calico_rt(plural)
        return store.list(rt) if store is not None and rt is not None else []

    def calico_get(self, plural: str, name: str, namespace: str | None = None) -> dict | None:
        store, rt = self.calico_store(), self.calico_rt(plural)
        return store.try_get(rt, namespace, name) if store is not None and rt is not None else None

    def calico_version(self) -> str:
        info = self.calico_get("clusterinformations", "default") or {}
        return (info.get("spec") or {}).get("calicoVersion") or "v3.22.1"

    def calico_version_tuple(self) -> tuple[int, int]:
        v = self.calico_version().lstrip("v").split(".")
        try:
            return int(v[0]), int(v[1])
        except (ValueError, IndexError):
            return (3, 22)

    def enabled_pools(self) -> list[dict]:
        """IPPools that are not disabled, in name order."""
        return [p for p in self.calico_list("ippools") if not (p.get("spec") or {}).get("disabled")]

    def pool_for_ip(self, ip: str) -> dict | None:
        """The IPPool whose CIDR holds `ip` (disabled pools included: existing addresses keep their pool)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for p in self.calico_list("ippools"):
            try:
                if addr in ipaddress.ip_network((p.get("spec") or {}).get("cidr", ""), strict=False):
                    return p
            except ValueError:
                continue
        return None

    def calico_node_env(self) -> dict[str, str]:
        """Literal env values of the calico-node DaemonSet's calico-node container (FELIX_* overrides)."""
        ds_rt = self.registry.get("apps", "daemonsets")
        for ns in ("kube-system", "calico-system"):
            ds = self.store.try_get(ds_rt, ns, "calico-node") if ds_rt else None
            if ds:
                for c in ds["spec"]["template"]["spec"].get("containers") or []:
                    if c.get("name") == "calico-node":
                        return {e["name"]: e["value"] for e in c.get("env") or [] if "value" in e}
        return {}

    def felix(self) -> dict:
        """Effective Felix settings: FelixConfiguration `default`, FELIX_* env overrides, defaults and auto-detection
        (Calico ≥ 3.23 enables IPIP/VXLAN from the pools when the field is unset)."""
        spec = dict(((self.calico_get("felixconfigurations", "default") or {}).get("spec")) or {})
        env = self.calico_node_env()
        for key, env_name, conv in (("vxlanVNI", "FELIX_VXLANVNI", int), ("vxlanPort", "FELIX_VXLANPORT", int),
                                    ("vxlanEnabled", "FELIX_VXLANENABLED", _bool),
                                    ("ipipEnabled", "FELIX_IPINIPENABLED", _bool)):
            if env_name in env:
                try:
                    spec[key] = conv(env[env_name])
                except ValueError:
                    pass
        pools = self.enabled_pools()
        auto = self.calico_version_tuple() >= (3, 23)
        if spec.get("vxlanEnabled") is None:
            spec["vxlanEnabled"] = auto and any((p["spec"].get("vxlanMode") or "Never") != "Never" for p in pools)
        if spec.get("ipipEnabled") is None:
            spec["ipipEnabled"] = auto and any((p["spec"].get("ipipMode") or "Never") != "Never" for p in pools)
        spec.setdefault("vxlanVNI", 4096)
        spec.setdefault("vxlanPort", 4789)
        return spec

    def calico_backend(self) -> str:
        """calico-config's `calico_backend` (bird | vxlan | none); bird when absent."""
        for ns in ("kube-system", "calico-system"):
            cm = self.store.try_get(self.rt("", "configmaps"), ns, "calico-config")
            if cm:
                return (cm.get("data") or {}).get("calico_backend", "bird")
        return "bird"

    # --- cluster parameters ----------------------------------------------------------------------------------------
    def cluster_configuration(self) -> dict:
        """kubeadm's ClusterConfiguration from ConfigMap kube-system/kubeadm-config ({} when absent)."""
        cm = self.store.try_get(self.rt("", "configmaps"), "kube-system", "kubeadm-config")
        text = ((cm or {}).get("data") or {}).get("ClusterConfiguration") or ""
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError:
            return {}

    def service_cidr(self) -> str:
        return (self.cluster_configuration().get("networking") or {}).get("serviceSubnet") or DEFAULT_SERVICE_CIDR

    def cluster_domain(self) -> str:
        return (self.cluster_configuration().get("networking") or {}).get("dnsDomain") or "cluster.local"

    def kube_version(self) -> str:
        """The API server's gitVersion (what `/version` answers), e.g. "v1.22.6"."""
        version = getattr(self.kube, "version", None)
        if isinstance(version, dict) and version.get("gitVersion"):
            return version["gitVersion"]
        from .. import scenarios
        return scenarios.version_for(getattr(self.kube, "scenario", "default"))["gitVersion"]


def _bool(v: str) -> bool:
    if v.lower() in ("true", "1", "yes"):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise ValueError(v)
