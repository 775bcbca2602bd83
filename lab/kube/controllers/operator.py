"""The Tigera operator's IP pool handling (operator ≥ 1.35): IPPools rendered from Installation `default`
`spec.calicoNetwork.ipPools`, labelled `app.kubernetes.io/managed-by=tigera-operator`; direct edits of managed
pools are reverted, and managed pools dropped from the Installation are deleted."""

from __future__ import annotations

import copy
from typing import Any

from ..resources import TIGERA_OPERATOR_GROUP
from ..store import Event
from .podutil import labels, meta

MANAGED_BY = "app.kubernetes.io/managed-by"
OPERATOR = "tigera-operator"
_ENCAP = {"IPIP": ("Always", "Never"), "IPIPCrossSubnet": ("CrossSubnet", "Never"),
          "VXLAN": ("Never", "Always"), "VXLANCrossSubnet": ("Never", "CrossSubnet"), "None": ("Never", "Never")}


def desired_pools(installation: dict) -> dict[str, dict]:
    """Pool name → IPPool object the operator renders from an Installation."""
    net = ((installation.get("spec") or {}).get("calicoNetwork")) or {}
    out: dict[str, dict] = {}
    v4_seen = False
    for p in net.get("ipPools") or []:
        cidr = p.get("cidr")
        if not cidr:
            continue
        is_v6 = ":" in cidr
        name = p.get("name") or ("default-ipv6-ippool" if is_v6 else
                                 ("default-ipv4-ippool" if not v4_seen else f"ippool-{cidr.replace('/', '-')}"))
        v4_seen = v4_seen or not is_v6
        ipip, vxlan = _ENCAP.get(p.get("encapsulation") or "IPIP", ("Always", "Never"))
        spec: dict[str, Any] = {
            "cidr": cidr, "ipipMode": ipip, "vxlanMode": vxlan,
            "natOutgoing": (p.get("natOutgoing") or "Enabled") == "Enabled",
            "blockSize": int(p.get("blockSize") or (122 if is_v6 else 26)),
            "nodeSelector": p.get("nodeSelector") or "all()",
            "allowedUses": p.get("allowedUses") or ["Workload", "Tunnel"],
        }
        if p.get("disableBGPExport"):
            spec["disableBGPExport"] = True
        out[name] = {"metadata": {"name": name, "labels": {MANAGED_BY: OPERATOR}}, "spec": spec}
    return out


class TigeraOperator:
    """Reconciles managed IPPools from Installation `default` (only when the Installation type is served)."""

    name = "tigera-operator"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def on_event(self, ev: Event) -> None:
        if ev.rt.key == (TIGERA_OPERATOR_GROUP, "installations"):
            self.ctx.enqueue(self.name, self.reconcile, "default")
        elif ev.rt.key[1] == "ippools" and ev.rt.group.endswith("projectcalico.org"):
            if labels(ev.obj).get(MANAGED_BY) == OPERATOR or (ev.old and labels(ev.old).get(MANAGED_BY) == OPERATOR):
                self.ctx.enqueue(self.name, self.reconcile, "default")

    def reconcile(self, _key: str) -> None:
        inst_rt = self.ctx.registry.get(TIGERA_OPERATOR_GROUP, "installations")
        store, pool_rt = self.ctx.calico_store(), self.ctx.calico_rt("ippools")
        if inst_rt is None or store is None or pool_rt is None:
            return
        inst = self.ctx.store.try_get(inst_rt, None, "default")
        if inst is None or meta(inst).get("deletionTimestamp"):
            return
        want = desired_pools(inst)
        for name, pool in want.items():
            cur = store.try_get(pool_rt, None, name)
            if cur is None:
                store.create(pool_rt, pool)
                continue
            fixed = copy.deepcopy(cur)
            fixed["spec"] = {**{k: v for k, v in (cur.get("spec") or {}).items() if k not in pool["spec"]
                                and k not in ("ipipMode", "vxlanMode", "disabled")}, **pool["spec"]}
            fixed["metadata"].setdefault("labels", {})[MANAGED_BY] = OPERATOR
            if fixed != cur:
                store.replace(pool_rt, fixed)
        for cur in store.list(pool_rt):
            if labels(cur).get(MANAGED_BY) == OPERATOR and cur["metadata"]["name"] not in want:
                store.delete(pool_rt, None, cur["metadata"]["name"])
        self._status(inst, inst_rt)

    def _status(self, inst: dict, inst_rt) -> None:
        version = self.ctx.calico_version()
        st = copy.deepcopy(inst.get("status") or {})
        st.update({"variant": "Calico", "calicoVersion": version, "computed": copy.deepcopy(inst.get("spec") or {}),
                   "mtu": 1450})
        if st != inst.get("status"):
            def put(o: dict) -> None:
                o["status"] = st
            self.ctx.store.mutate(inst_rt, None, "default", put,
                                  subresource="status" if "status" in inst_rt.subresources else None)
