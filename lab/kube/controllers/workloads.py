"""Workload controllers: Deployment → ReplicaSet → Pods, and DaemonSet → one Pod per matching node.

Pods carry controller ownerReferences (the store's garbage collection removes them with their owner); statuses
report replicas/ready/available as kubectl shows them. Rollouts are simplified: a template change creates a new
ReplicaSet at full size and old ones are scaled to zero once it is available (Recreate: at once).
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from ..store import Event, now_iso
from ..net.selectors import match_label_selector, match_map_selector, match_node_selector_term
from .podutil import controller_ref, labels, meta, owner_ref, pod_ready, tolerates

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_rand = random.Random()


def safe_encode(text: str) -> str:
    """Kubernetes' SafeEncodeString: map each character onto a vowel-free alphabet."""
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def template_hash(template: dict, collision: int = 0) -> str:
    """pod-template-hash of a pod template (fnv-1a 32 over its JSON, safe-encoded, like the controller)."""
    h = 0x811C9DC5
    for b in json.dumps(template, sort_keys=True).encode() + str(collision).encode():
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return safe_encode(str(h))


def random_suffix(n: int = 5) -> str:
    return "".join(_rand.choice(ALPHANUMS) for _ in range(n))


def pod_from_template(template: dict, namespace: str, prefix: str, owner: dict,
                      extra_labels: dict[str, str] | None = None) -> dict:
    """A Pod built from a template the way controllers build it (name `<prefix><5 chars>`, owner reference)."""
    tmeta = template.get("metadata") or {}
    lab = dict(tmeta.get("labels") or {})
    lab.update(extra_labels or {})
    md: dict[str, Any] = {"name": prefix + random_suffix(), "generateName": prefix, "namespace": namespace,
                          "labels": lab, "ownerReferences": [owner_ref(owner)]}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": copy.deepcopy(template.get("spec") or {})}


def _owned(pods: list[dict], owner_uid: str) -> list[dict]:
    return [p for p in pods if (controller_ref(p) or {}).get("uid") == owner_uid
            and not meta(p).get("deletionTimestamp")]


def _set_deploy_condition(conds: list[dict], ctype: str, status: str, reason: str, message: str) -> None:
    now = now_iso()
    for c in conds:
        if c["type"] == ctype:
            if c["status"] != status:
                c["lastTransitionTime"] = now
            if (c.get("reason"), c.get("message"), c["status"]) != (reason, message, status):
                c["lastUpdateTime"] = now
            c.update(status=status, reason=reason, message=message)
            return
    conds.append({"type": ctype, "status": status, "reason": reason, "message": message,
                  "lastUpdateTime": now, "lastTransitionTime": now})


class Workloads:
    """Reconciles Deployments, ReplicaSets and DaemonSets."""

    name = "workloads"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    # --- events ----------------------------------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        key = ev.rt.key
        m = meta(ev.obj)
        if key == ("apps", "deployments") and ev.type != "DELETED":
            self.ctx.enqueue("deployment", self.reconcile_deployment, (m["namespace"], m["name"]))
        elif key == ("apps", "replicasets"):
            if ev.type != "DELETED":
                self.ctx.enqueue("replicaset", self.reconcile_replicaset, (m["namespace"], m["name"]))
            self._enqueue_owner(ev.obj, "Deployment")
        elif key == ("apps", "daemonsets") and ev.type != "DELETED":
            self.ctx.enqueue("daemonset", self.reconcile_daemonset, (m["namespace"], m["name"]))
        elif key == ("", "pods"):
            self._enqueue_owner(ev.obj, "ReplicaSet")
            self._enqueue_owner(ev.obj, "DaemonSet")
        elif key == ("", "nodes"):
            if ev.type != "MODIFIED" or labels(ev.old or {}) != labels(ev.obj) or \
                    (ev.old or {}).get("spec") != ev.obj.get("spec"):
                for ds in self.ctx.store.list(self.ctx.rt("apps", "daemonsets")):
                    self.ctx.enqueue("daemonset", self.reconcile_daemonset,
                                     (ds["metadata"]["namespace"], ds["metadata"]["name"]))

    def _enqueue_owner(self, obj: dict, kind: str) -> None:
        ref = controller_ref(obj)
        if not ref or ref.get("kind") != kind:
            return
        ns = meta(obj).get("namespace")
        fn, name = {"Deployment": (self.reconcile_deployment, "deployment"),
                    "ReplicaSet": (self.reconcile_replicaset, "replicaset"),
                    "DaemonSet": (self.reconcile_daemonset, "daemonset")}[kind]
        self.ctx.enqueue(name, fn, (ns, ref["name"]))

    # --- Deployment ------------------------------------------------------------------------------------------------
    def reconcile_deployment(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        d_rt, rs_rt = self.ctx.rt("apps", "deployments"), self.ctx.rt("apps", "replicasets")
        d = store.try_get(d_rt, *key)
        if d is None or meta(d).get("deletionTimestamp"):
            return
        ns, name, uid = key[0], key[1], meta(d)["uid"]
        spec = d["spec"]
        replicas = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        h = template_hash(template)
        rss = [rs for rs in store.list(rs_rt, ns) if (controller_ref(rs) or {}).get("uid") == uid]
        new_rs = next((rs for rs in rss if labels(rs).get("pod-template-hash") == h), None)
        olds = [rs for rs in rss if rs is not new_rs]
        terminating = self.ctx.namespace_terminating(ns)
        if new_rs is None and not terminating:
            revision = 1 + max([int((meta(rs).get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
                                for rs in rss] or [0])
            tpl = copy.deepcopy(template)
            tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            sel = copy.deepcopy(spec.get("selector") or {})
            sel.setdefault("matchLabels", {})["pod-template-hash"] = h
            rs = {"metadata": {"name": f"{name}-{h}", "namespace": ns,
                               "labels": dict((tpl["metadata"].get("labels") or {})),
                               "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                               "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                               "deployment.kubernetes.io/revision": str(revision)},
                               "ownerReferences": [owner_ref(d)]},
                  "spec": {"replicas": replicas, "selector": sel, "template": tpl}}
            new_rs = store.create(rs_rt, rs, ns)
            self.ctx.events.record(d, "Normal", "ScalingReplicaSet",
                                   f"Scaled up replica set {new_rs['metadata']['name']} to {replicas}",
                                   component="deployment-controller")
        elif new_rs is not None and int(new_rs["spec"].get("replicas", 0)) != replicas:
            self._scale_rs(d, new_rs, replicas)
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        new_available = int(((new_rs or {}).get("status") or {}).get("availableReplicas") or 0)
        for rs in olds:
            if int(rs["spec"].get("replicas", 0)) and (recreate or new_available >= replicas):
                self._scale_rs(d, rs, 0)
        self._deployment_status(d, new_rs, rss if new_rs in rss else rss + ([new_rs] if new_rs else []))

    def _scale_rs(self, d: dict, rs: dict, replicas: int) -> None:
        old = int(rs["spec"].get("replicas", 0))

        def put(o: dict) -> None:
            o["spec"]["replicas"] = replicas
            ann = o["metadata"].setdefault("annotations", {})
            ann["deployment.kubernetes.io/desired-replicas"] = str(d["spec"].get("replicas", 1))
        self.ctx.store.mutate(self.ctx.rt("apps", "replicasets"), rs["metadata"]["namespace"],
                              rs["metadata"]["name"], put)
        word = "up" if replicas > old else "down"
        self.ctx.events.record(d, "Normal", "ScalingReplicaSet",
                               f"Scaled {word} replica set {rs['metadata']['name']} to {replicas}",
                               component="deployment-controller")

    def _deployment_status(self, d: dict, new_rs: dict | None, rss: list[dict]) -> None:
        store, d_rt = self.ctx.store, self.ctx.rt("apps", "deployments")
        rs_rt = self.ctx.rt("apps", "replicasets")
        fresh = [store.try_get(rs_rt, rs["metadata"]["namespace"], rs["metadata"]["name"]) for rs in rss]
        fresh = [rs for rs in fresh if rs]
        want = int(d["spec"].get("replicas", 1))

        def total(field: str) -> int:
            return sum(int((rs.get("status") or {}).get(field) or 0) for rs in fresh)
        new_name = new_rs["metadata"]["name"] if new_rs else ""
        new_st = next(((rs.get("status") or {}) for rs in fresh if rs["metadata"]["name"] == new_name), {})
        st = copy.deepcopy(d.get("status") or {})
        st["observedGeneration"] = d["metadata"].get("generation", 1)
        for field, value in (("replicas", total("replicas")), ("updatedReplicas", int(new_st.get("replicas") or 0)),
                             ("readyReplicas", total("readyReplicas")),
                             ("availableReplicas", total("availableReplicas"))):
            if value:
                st[field] = value
            else:
                st.pop(field, None)
        unavailable = max(want - total("availableReplicas"), 0)
        if unavailable:
            st["unavailableReplicas"] = unavailable
        else:
            st.pop("unavailableReplicas", None)
        conds = st.setdefault("conditions", [])
        max_unavailable = _max_unavailable(d, want)
        if total("availableReplicas") >= want - max_unavailable:
            _set_deploy_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                  "Deployment has minimum availability.")
        else:
            _set_deploy_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                  "Deployment does not have minimum availability.")
        done = (int(new_st.get("availableReplicas") or 0) >= want and
                all(int(rs["spec"].get("replicas", 0)) == 0 for rs in fresh if rs["metadata"]["name"] != new_name))
        if done:
            _set_deploy_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                  f'ReplicaSet "{new_name}" has successfully progressed.')
        elif not any(c["type"] == "Progressing" for c in conds):
            _set_deploy_condition(conds, "Progressing", "True", "NewReplicaSetCreated",
                                  f'Created new replica set "{new_name}"')
        else:
            _set_deploy_condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                                  f'ReplicaSet "{new_name}" is progressing.')
        conds.sort(key=lambda c: 0 if c["type"] == "Available" else 1)
        if st != d.get("status"):
            def put(o: dict) -> None:
                o["status"] = st
            store.mutate(d_rt, d["metadata"]["namespace"], d["metadata"]["name"], put, subresource="status")

    # --- ReplicaSet ------------------------------------------------------------------------------------------------
    def reconcile_replicaset(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        rs_rt, pods_rt = self.ctx.rt("apps", "replicasets"), self.ctx.rt("", "pods")
        rs = store.try_get(rs_rt, *key)
        if rs is None or meta(rs).get("deletionTimestamp"):
            return
        ns = key[0]
        want = int(rs["spec"].get("replicas", 1))
        pods = _owned(store.list(pods_rt, ns), meta(rs)["uid"])
        if len(pods) < want and not self.ctx.namespace_terminating(ns):
            for _ in range(want - len(pods)):
                pod = pod_from_template(rs["spec"].get("template") or {}, ns, f"{key[1]}-", rs)
                created = store.create(pods_rt, pod, ns)
                pods.append(created)
                self.ctx.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                                       component="replicaset-controller")
        elif len(pods) > want:
            def rank(p: dict) -> tuple:
                # unscheduled first, then not ready, then the newest
                return (bool((p.get("spec") or {}).get("nodeName")), pod_ready(p),
                        -int(meta(p).get("resourceVersion") or 0))
            for p in sorted(pods, key=rank)[: len(pods) - want]:
                store.delete(pods_rt, ns, meta(p)["name"])
                self.ctx.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {meta(p)['name']}",
                                       component="replicaset-controller")
            pods = _owned(store.list(pods_rt, ns), meta(rs)["uid"])
        selector = rs["spec"].get("selector") or {}
        ready = sum(1 for p in pods if pod_ready(p))
        st = {"replicas": len(pods), "observedGeneration": rs["metadata"].get("generation", 1)}
        labeled = sum(1 for p in pods if match_label_selector(selector, labels(p)))
        if labeled:
            st["fullyLabeledReplicas"] = labeled
        if ready:
            st["readyReplicas"] = ready
            st["availableReplicas"] = ready
        if st != rs.get("status"):
            def put(o: dict) -> None:
                o["status"] = st
            store.mutate(rs_rt, ns, key[1], put, subresource="status")

    # --- DaemonSet -------------------------------------------------------------------------------------------------
    def reconcile_daemonset(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        ds_rt, pods_rt = self.ctx.rt("apps", "daemonsets"), self.ctx.rt("", "pods")
        ds = store.try_get(ds_rt, *key)
        if ds is None or meta(ds).get("deletionTimestamp"):
            return
        ns, name = key
        template = ds["spec"].get("template") or {}
        h = template_hash(template)
        pods = _owned(store.list(pods_rt, ns), meta(ds)["uid"])
        nodes = {n["metadata"]["name"]: n for n in self.ctx.nodes()}
        terminating = self.ctx.namespace_terminating(ns)
        by_node: dict[str, list[dict]] = {}
        for p in pods:
            target = _ds_target(p)
            if target not in nodes or labels(p).get("controller-revision-hash") != h:
                store.delete(pods_rt, ns, meta(p)["name"])
                self.ctx.events.record(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta(p)['name']}",
                                       component="daemonset-controller")
                continue
            by_node.setdefault(target, []).append(p)
        desired = current = ready = 0
        for node_name, node in sorted(nodes.items()):
            should = self._should_run(template, node)
            here = by_node.get(node_name, [])
            if should:
                desired += 1
                if not here and not terminating:
                    pod = self._ds_pod(ds, template, h, node_name)
                    created = store.create(pods_rt, pod, ns)
                    self.ctx.events.record(ds, "Normal", "SuccessfulCreate",
                                           f"Created pod: {created['metadata']['name']}",
                                           component="daemonset-controller")
                    here = [created]
                current += 1 if here else 0
                ready += 1 if any(pod_ready(p) for p in here) else 0
                extra = here[1:]
            else:
                extra = here
            for p in extra:
                store.delete(pods_rt, ns, meta(p)["name"])
        st = {"currentNumberScheduled": current, "desiredNumberScheduled": desired, "numberMisscheduled": 0,
              "numberReady": ready, "observedGeneration": ds["metadata"].get("generation", 1),
              "updatedNumberScheduled": current}
        if ready:
            st["numberAvailable"] = ready
        if desired - ready > 0:
            st["numberUnavailable"] = desired - ready
        if st != ds.get("status"):
            def put(o: dict) -> None:
                o["status"] = st
            store.mutate(ds_rt, ns, name, put, subresource="status")

    @staticmethod
    def _should_run(template: dict, node: dict) -> bool:
        spec = template.get("spec") or {}
        if not match_map_selector(spec.get("nodeSelector"), labels(node)):
            return False
        req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
               .get("requiredDuringSchedulingIgnoredDuringExecution"))
        if req and not any(match_node_selector_term(t, labels(node), {"metadata.name": node["metadata"]["name"]})
                           for t in req.get("nodeSelectorTerms") or []):
            return False
        tolerations = list(spec.get("tolerations") or []) + _ds_tolerations(spec)
        for t in (node.get("spec") or {}).get("taints") or []:
            if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, t):
                return False
        return True

    def _ds_pod(self, ds: dict, template: dict, h: str, node_name: str) -> dict:
        pod = pod_from_template(template, ds["metadata"]["namespace"], f"{ds['metadata']['name']}-", ds,
                                {"controller-revision-hash": h,
                                 "pod-template-generation": str(ds["metadata"].get("generation", 1))})
        spec = pod["spec"]
        affinity = spec.setdefault("affinity", {})
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}
        tol = list(spec.get("tolerations") or [])
        for t in _ds_tolerations(spec):
            if t not in tol:
                tol.append(t)
        spec["tolerations"] = tol
        return pod


def _ds_tolerations(spec: dict) -> list[dict]:
    tol = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
           {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
           {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
           {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
           {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
           {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    if spec.get("hostNetwork"):
        tol.append({"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"})
    return tol


def _ds_target(pod: dict) -> str | None:
    spec = pod.get("spec") or {}
    terms = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
              .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")) or []
    for t in terms:
        for f in t.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return f["values"][0]
    return spec.get("nodeName")


def _max_unavailable(d: dict, want: int) -> int:
    strat = d["spec"].get("strategy") or {}
    if strat.get("type") == "Recreate":
        return 0
    mu = (strat.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(mu, str) and mu.endswith("%"):
        return int(want * int(mu[:-1]) // 100)
    try:
        return int(mu)
    except (TypeError, ValueError):
        return 0
