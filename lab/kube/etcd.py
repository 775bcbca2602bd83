"""The `etcd` scenario's Calico datastore: Calico objects kept out of the Kubernetes API (etcdv3), reachable by
calicoctl on the control plane only. It is a `Store` of its own, so readers use the same calls as for the
Kubernetes datastore (`kube.calico_etcd.list(rt)` with `rt = kube.calico_etcd.registry.get(CALICO_GROUP, plural)`)."""

from __future__ import annotations

from .resources import BUILTIN, CALICO_CRDS, Registry
from .store import Obj, Store

ETCD_ENDPOINTS = "https://172.16.3.170:2379"


class CalicoEtcdStore(Store):
    """An in-memory etcdv3 Calico datastore (objects keep the crd.projectcalico.org/v1 shape of the types)."""

    endpoints = ETCD_ENDPOINTS

    def __init__(self) -> None:
        ns_type = next(rt for rt in BUILTIN if rt.key == ("", "namespaces"))
        super().__init__(Registry((ns_type,) + CALICO_CRDS))

    def create(self, rt, obj: Obj, namespace: str | None = None) -> Obj:
        """As Store.create; a namespaced Calico object's namespace is implied (etcd keeps no Namespace objects)."""
        if rt.namespaced:
            ns = namespace or (obj.get("metadata") or {}).get("namespace") or "default"
            ns_rt = self.registry.get("", "namespaces")
            if self.try_get(ns_rt, None, ns) is None:
                super().create(ns_rt, {"metadata": {"name": ns}})
        return super().create(rt, obj, namespace)
