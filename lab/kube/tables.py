"""Server-side printing: `meta.k8s.io/v1` Table responses, which is what `kubectl get` shows.

The columns and cell values follow the real API server's printers (`kubectl get nodes -o wide`: NAME STATUS ROLES
AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME). Custom resources use their CRD's
`additionalPrinterColumns`, else NAME and AGE.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

Obj = dict[str, Any]
Column = tuple[str, str, int]  # (name, type, priority)
Printer = tuple[list[Column], Callable[[Obj], list[Any]]]


def human_duration(seconds: float) -> str:
    """Kubernetes' `duration.HumanDuration` (what AGE columns show)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _parse_ts(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(ts: str | None) -> str:
    """Time since an RFC 3339 timestamp, as the AGE column shows it."""
    t = _parse_ts(ts)
    if t is None:
        return "<unknown>"
    return human_duration((datetime.now(timezone.utc) - t).total_seconds())


def _meta(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _name(o: Obj) -> str:
    return _meta(o).get("name", "")


def _age(o: Obj) -> str:
    return age(_meta(o).get("creationTimestamp"))


def _none(values: list[str]) -> str:
    return ",".join(values) if values else "<none>"


def _selector(sel: Obj | None) -> str:
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{e['key']} {op.lower()} ({','.join(e.get('values') or [])})")
        elif op == "Exists":
            parts.append(e["key"])
        else:
            parts.append(f"!{e['key']}")
    return ",".join(parts) if parts else "<none>"


def _map_selector(sel: Obj | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (sel or {}).items()) or "<none>"


# --- nodes ---------------------------------------------------------------------------------------------------
def _node_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        state = ["Unknown"]
    else:
        state = ["Ready" if ready.get("status") == "True" else "NotReady"]
    if spec.get("unschedulable"):
        state.append("SchedulingDisabled")
    labels = _meta(o).get("labels") or {}
    roles = sorted({k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
                    and k.split("/", 1)[1]}
                   | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    info = status.get("nodeInfo") or {}
    addrs = status.get("addresses") or []

    def addr(kind: str) -> str:
        return next((a.get("address") for a in addrs if a.get("type") == kind), None) or "<none>"

    return [_name(o), ",".join(state), _none(roles), _age(o), info.get("kubeletVersion", ""),
            addr("InternalIP"), addr("ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]


_NODE: Printer = ([("Name", "string", 0), ("Status", "string", 0), ("Roles", "string", 0), ("Age", "string", 0),
                   ("Version", "string", 0), ("Internal-IP", "string", 1), ("External-IP", "string", 1),
                   ("OS-Image", "string", 1), ("Kernel-Version", "string", 1), ("Container-Runtime", "string", 1)],
                  _node_row)


# --- pods ----------------------------------------------------------------------------------------------------
def pod_status_reason(o: Obj) -> str:
    """The STATUS column of a pod (Running, Pending, ContainerCreating, CrashLoopBackOff, Completed...)."""
    status = o.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cs in status.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("terminated", {}).get("exitCode", 0) == 0 and "terminated" in state:
            continue
        if state.get("waiting", {}).get("reason") not in (None, "PodInitializing"):
            return f"Init:{state['waiting']['reason']}"
    running = False
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            t = state["terminated"]
            reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode', 0)}"
        elif "running" in state and cs.get("ready"):
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if _meta(o).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    gates = spec.get("readinessGates") or []
    gate_cell = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        gate_cell = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    return [_name(o), f"{ready}/{total}", pod_status_reason(o), str(restarts), _age(o),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gate_cell]


_POD: Printer = ([("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0),
                  ("Restarts", "string", 0), ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1),
                  ("Nominated Node", "string", 1), ("Readiness Gates", "string", 1)], _pod_row)


# --- other built-ins -----------------------------------------------------------------------------------------
def _ports(spec: Obj) -> str:
    out = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        out.append(f"{p.get('port')}:{p['nodePort']}/{proto}" if p.get("nodePort") else f"{p.get('port')}/{proto}")
    return ",".join(out) or "<none>"


def _service_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    stype = spec.get("type", "ClusterIP")
    external = list(spec.get("externalIPs") or [])
    if stype == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        external = ingress + external or ["<pending>"]
    elif stype == "ExternalName":
        external = [spec.get("externalName", "")]
    return [_name(o), stype, spec.get("clusterIP") or "<none>", _none(external), _ports(spec), _age(o),
            _map_selector(spec.get("selector"))]


def _containers(tpl: Obj) -> tuple[str, str]:
    cs = ((tpl.get("spec") or {}).get("containers")) or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deployment_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    return [_name(o), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(o), names, images,
            _selector(spec.get("selector"))]


def _daemonset_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    node_sel = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [_name(o), status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0),
            status.get("numberAvailable", 0), _map_selector(node_sel), _age(o), names, images,
            _selector(spec.get("selector"))]


def _replicaset_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    return [_name(o), spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0),
            _age(o), names, images, _selector(spec.get("selector"))]


def _endpoints_row(o: Obj) -> list[Any]:
    eps = []
    for s in o.get("subsets") or []:
        for a in s.get("addresses") or []:
            for p in s.get("ports") or [{}]:
                eps.append(f"{a.get('ip')}:{p.get('port')}" if p.get("port") else a.get("ip", ""))
    shown = ",".join(eps[:3]) + (f" + {len(eps) - 3} more..." if len(eps) > 3 else "")
    return [_name(o), shown or "<none>", _age(o)]


def _event_row(o: Obj) -> list[Any]:
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or _meta(o).get("creationTimestamp")
    return [age(last), o.get("type", ""), o.get("reason", ""), f"{(inv.get('kind') or '').lower()}/{inv.get('name')}",
            o.get("message", "")]


def _csr_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    conds = [c.get("type") for c in status.get("conditions") or [] if c.get("status", "True") == "True"]
    if status.get("certificate"):
        conds.append("Issued")
    secs = spec.get("expirationSeconds")
    return [_name(o), _age(o), spec.get("signerName", ""), spec.get("username", ""),
            human_duration(secs) if secs else "<none>", ",".join(conds) or "Pending"]


def _binding_row(o: Obj) -> list[Any]:
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []

    def names(kind: str) -> str:
        out = [(f"{s.get('namespace')}/{s.get('name')}" if kind == "ServiceAccount" else s.get("name", ""))
               for s in subjects if s.get("kind") == kind]
        return ", ".join(out)

    return [_name(o), f"{ref.get('kind')}/{ref.get('name')}", _age(o), names("User"), names("Group"),
            names("ServiceAccount")]


def _created(o: Obj) -> list[Any]:
    return [_name(o), _meta(o).get("creationTimestamp", "")]


_NAME_AGE: Printer = ([("Name", "string", 0), ("Age", "string", 0)], lambda o: [_name(o), _age(o)])
_NAME_CREATED: Printer = ([("Name", "string", 0), ("Created At", "date", 0)], _created)
_BINDING: Printer = ([("Name", "string", 0), ("Role", "string", 0), ("Age", "string", 0), ("Users", "string", 1),
                      ("Groups", "string", 1), ("ServiceAccounts", "string", 1)], _binding_row)

PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "nodes"): _NODE,
    ("", "pods"): _POD,
    ("", "namespaces"): ([("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
                         lambda o: [_name(o), (o.get("status") or {}).get("phase", "Active"), _age(o)]),
    ("", "services"): ([("Name", "string", 0), ("Type", "string", 0), ("Cluster-IP", "string", 0),
                        ("External-IP", "string", 0), ("Port(s)", "string", 0), ("Age", "string", 0),
                        ("Selector", "string", 1)], _service_row),
    ("", "endpoints"): ([("Name", "string", 0), ("Endpoints", "string", 0), ("Age", "string", 0)],
                        _endpoints_row),
    ("", "configmaps"): ([("Name", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
                         lambda o: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)]),
    ("", "secrets"): ([("Name", "string", 0), ("Type", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
                      lambda o: [_name(o), o.get("type", "Opaque"), len(o.get("data") or {}), _age(o)]),
    ("", "serviceaccounts"): ([("Name", "string", 0), ("Secrets", "integer", 0), ("Age", "string", 0)],
                              lambda o: [_name(o), len(o.get("secrets") or []), _age(o)]),
    ("", "events"): ([("Last Seen", "string", 0), ("Type", "string", 0), ("Reason", "string", 0),
                      ("Object", "string", 0), ("Message", "string", 0)], _event_row),
    ("apps", "deployments"): ([("Name", "string", 0), ("Ready", "string", 0), ("Up-to-date", "integer", 0),
                               ("Available", "integer", 0), ("Age", "string", 0), ("Containers", "string", 1),
                               ("Images", "string", 1), ("Selector", "string", 1)], _deployment_row),
    ("apps", "daemonsets"): ([("Name", "string", 0), ("Desired", "integer", 0), ("Current", "integer", 0),
                              ("Ready", "integer", 0), ("Up-to-date", "integer", 0), ("Available", "integer", 0),
                              ("Node Selector", "string", 0), ("Age", "string", 0), ("Containers", "string", 1),
                              ("Images", "string", 1), ("Selector", "string", 1)], _daemonset_row),
    ("apps", "replicasets"): ([("Name", "string", 0), ("Desired", "integer", 0), ("Current", "integer", 0),
                               ("Ready", "integer", 0), ("Age", "string", 0), ("Containers", "string", 1),
                               ("Images", "string", 1), ("Selector", "string", 1)], _replicaset_row),
    ("networking.k8s.io", "networkpolicies"): (
        [("Name", "string", 0), ("Pod-Selector", "string", 0), ("Age", "string", 0)],
        lambda o: [_name(o), _selector((o.get("spec") or {}).get("podSelector")),
                   _age(o)]),
    ("apiextensions.k8s.io", "customresourcedefinitions"): _NAME_CREATED,
    ("certificates.k8s.io", "certificatesigningrequests"): (
        [("Name", "string", 0), ("Age", "string", 0), ("SignerName", "string", 0), ("Requestor", "string", 0),
         ("RequestedDuration", "string", 0), ("Condition", "string", 0)], _csr_row),
    ("rbac.authorization.k8s.io", "clusterroles"): _NAME_CREATED,
    ("rbac.authorization.k8s.io", "roles"): _NAME_CREATED,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): _BINDING,
    ("rbac.authorization.k8s.io", "rolebindings"): _BINDING,
    ("coordination.k8s.io", "leases"): (
        [("Name", "string", 0), ("Holder", "string", 0), ("Age", "string", 0)],
        lambda o: [_name(o), (o.get("spec") or {}).get("holderIdentity", ""), _age(o)]),
}


def _json_path(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in [p for p in path.strip().lstrip(".").split(".") if p]:
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def crd_printer(crd: Obj | None, version: str) -> Printer:
    """Columns for a custom resource: NAME and the CRD's additionalPrinterColumns for `version` (NAME, AGE without)."""
    cols: list[Obj] = []
    for v in ((crd or {}).get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            cols = list(v.get("additionalPrinterColumns") or [])
    if not cols:
        return _NAME_AGE
    columns: list[Column] = [("Name", "string", 0)]
    columns += [(c["name"], c.get("type", "string"), int(c.get("priority", 0))) for c in cols]

    def row(o: Obj) -> list[Any]:
        cells: list[Any] = [_name(o)]
        for c in cols:
            value = _json_path(o, c.get("jsonPath", ""))
            if c.get("type") == "date" and isinstance(value, str):
                value = age(value)
            cells.append(value)
        return cells

    return columns, row


def to_table(objs: list[Obj], printer: Printer | None, *, resource_version: str, include_object: str = "Metadata",
             continue_token: str | None = None) -> Obj:
    """A Table of `objs`. `include_object` is None, Metadata (PartialObjectMetadata rows) or Object."""
    columns, row = printer or _NAME_AGE
    defs = []
    for name, ctype, prio in columns:
        d = {"name": name, "type": ctype, "format": "name" if name == "Name" else "",
             "description": f"{name} of the object" if name != "Name" else
             "Name must be unique within a namespace.", "priority": prio}
        defs.append(d)
    rows = []
    for o in objs:
        r: Obj = {"cells": row(o)}
        if include_object == "Object":
            r["object"] = o
        elif include_object != "None":
            r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": o.get("metadata") or {}}
        rows.append(r)
    meta: Obj = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs,
            "rows": rows}
