"""The `pods/eviction` subresource as kube-apiserver 1.22's EvictionREST answers it.

- A pod that is Pending, Succeeded or Failed, or already being deleted, is deleted without consulting a budget.
- Otherwise the PodDisruptionBudgets of its namespace whose selector matches it decide: none → delete; more than
  one → 500; a budget the disruption controller has not observed yet, or with `disruptionsAllowed` 0 → 429
  TooManyRequests "Cannot evict pod as it would violate the pod's disruption budget." with a `DisruptionBudget`
  cause; else the budget's `disruptionsAllowed` goes down by one, the pod is recorded in `disruptedPods`, and the
  pod is deleted with the Eviction's `deleteOptions`.
- Success is 201 with a `Status` of `Success`.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError, TooManyRequests
from .net.selectors import match_label_selector
from .store import Store, now_iso

Obj = dict[str, Any]
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def _budget_error(cause: str) -> TooManyRequests:
    return TooManyRequests(VIOLATION, details={"causes": [{"reason": "DisruptionBudget", "message": cause}]})


def evict(store: Store, namespace: str, name: str, eviction: Obj) -> Obj:
    """Evict pod `namespace/name`; returns the 201 `Status`, or raises the ApiError the real server answers."""
    pods_rt = store.registry.get("", "pods")
    pod = store.get(pods_rt, namespace, name)
    opts = eviction.get("deleteOptions") or {}
    grace = opts.get("gracePeriodSeconds")
    phase = (pod.get("status") or {}).get("phase")
    if phase not in ("Pending", "Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
        _charge_budget(store, pod)
    store.delete(pods_rt, namespace, name, propagation=opts.get("propagationPolicy"),
                 grace_period=int(grace) if grace is not None else None)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _charge_budget(store: Store, pod: Obj) -> None:
    pdb_rt = store.registry.get("policy", "poddisruptionbudgets")
    if pdb_rt is None:
        return
    labels = pod["metadata"].get("labels") or {}
    budgets = [b for b in store.list(pdb_rt, pod["metadata"]["namespace"])
               if (b.get("spec") or {}).get("selector") is not None
               and match_label_selector(b["spec"]["selector"], labels)]
    if not budgets:
        return
    if len(budgets) > 1:
        raise ApiError("This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
                       "support.", code=500, reason="InternalError")
    pdb = budgets[0]
    st = pdb.get("status") or {}
    bname = pdb["metadata"]["name"]
    if st.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
        raise _budget_error(f"The disruption budget {bname} is still being processed by the server.")
    if st.get("disruptionsAllowed", 0) <= 0:
        raise _budget_error(f"The disruption budget {bname} needs {st.get('desiredHealthy', 0)} healthy pods and "
                            f"has {st.get('currentHealthy', 0)} currently")

    def charge(o: Obj) -> None:
        s = o.setdefault("status", {})
        s["disruptionsAllowed"] = s.get("disruptionsAllowed", 0) - 1
        s.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now_iso()
    store.mutate(pdb_rt, pdb["metadata"]["namespace"], bname, charge, subresource="status")
