"""Defaulting and validation the real API server applies to Pods and workloads on write (setdefault only, so it
composes with any defaulting the API layer does itself)."""

from __future__ import annotations

from typing import Any

from ..errors import Invalid
from ..net.selectors import match_label_selector
from . import images
from .podutil import meta

DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def default_pod_spec(spec: dict, *, with_tolerations: bool) -> None:
    """Fill the fields the API server defaults in a PodSpec."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if with_tolerations:
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tol = spec.setdefault("tolerations", [])
        for t in DEFAULT_TOLERATIONS:
            if not any(x.get("key") == t["key"] and x.get("effect") == t["effect"] for x in tol):
                tol.append(dict(t))
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        image = c.get("image") or ""
        c.setdefault("imagePullPolicy", "Always" if images.tag(image) in ("latest", "") else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")


def qos_class(spec: dict) -> str:
    containers = spec.get("containers") or []
    reqs = [(c.get("resources") or {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    if all(r.get("limits") and set((r.get("limits") or {})) >= {"cpu", "memory"}
           and (r.get("requests") or r.get("limits")) == r.get("limits") for r in reqs):
        return "Guaranteed"
    return "Burstable"


def admit_pod(op: str, pod: dict, old: dict | None) -> dict:
    if op != "CREATE":
        return pod
    spec = pod.setdefault("spec", {})
    name = meta(pod).get("name") or meta(pod).get("generateName") or ""
    if not spec.get("containers"):
        raise Invalid.of("Pod", name, [("spec.containers", "Required value")])
    for i, c in enumerate(spec["containers"]):
        if not c.get("image"):
            raise Invalid.of("Pod", name, [(f"spec.containers[{i}].image", "Required value")])
    default_pod_spec(spec, with_tolerations=True)
    st = pod.setdefault("status", {})
    st.setdefault("phase", "Pending")
    st.setdefault("qosClass", qos_class(spec))
    return pod


def admit_workload(kind: str):
    """Admission for Deployment/ReplicaSet/DaemonSet: defaults and the selector-matches-template check."""
    def admit(op: str, obj: dict, old: dict | None) -> dict:
        if op == "DELETE":
            return obj
        spec = obj.setdefault("spec", {})
        name = meta(obj).get("name", "")
        sel = spec.get("selector")
        if not sel:
            raise Invalid.of(kind, name, [("spec.selector", "Required value")], group="apps")
        tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not match_label_selector(sel, tlabels):
            shown = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(tlabels.items())) + "}"
            raise Invalid.of(kind, name, [("spec.template.metadata.labels",
                                           f"Invalid value: {shown}: `selector` does not match template `labels`")],
                             group="apps")
        if op == "UPDATE" and old is not None and (old.get("spec") or {}).get("selector") != sel:
            raise Invalid.of(kind, name, [("spec.selector", "Invalid value: v1.LabelSelector{...}: field is "
                                           "immutable")], group="apps")
        default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}), with_tolerations=False)
        spec["template"].setdefault("metadata", {}).setdefault("creationTimestamp", None)
        spec.setdefault("revisionHistoryLimit", 10)
        if kind == "Deployment":
            spec.setdefault("replicas", 1)
            spec.setdefault("progressDeadlineSeconds", 600)
            strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strat.get("type", "RollingUpdate") == "RollingUpdate":
                strat.setdefault("type", "RollingUpdate")
                strat.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})
        elif kind == "ReplicaSet":
            spec.setdefault("replicas", 1)
        elif kind == "DaemonSet":
            strat = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
            if strat.get("type") == "RollingUpdate":
                strat.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        return obj
    return admit


def install(ctx: Any, services: Any, namespaces: Any) -> None:
    """Register every admission hook of the controllers on the store."""
    store = ctx.store
    store.add_admission(namespaces.admit_content)
    store.add_admission(namespaces.admit_namespace, ctx.rt("", "namespaces"))
    store.add_admission(admit_pod, ctx.rt("", "pods"))
    store.add_admission(services.admit, ctx.rt("", "services"))
    for plural, kind in (("deployments", "Deployment"), ("replicasets", "ReplicaSet"), ("daemonsets", "DaemonSet")):
        store.add_admission(admit_workload(kind), ctx.rt("apps", plural))
