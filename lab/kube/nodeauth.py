"""What a kubelet's credential may do on a kubeadm cluster: the Node authorizer and the NodeRestriction admission
plugin (kube-apiserver 1.22, `--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction`).

A node is a user `system:node:<name>` in group `system:nodes`. The Node authorizer
- reads Secrets and ConfigMaps (get/list/watch of a named object) only when a pod bound to the node references
  them (volumes, projected sources, env, envFrom, imagePullSecrets); PVCs and PVs (get) the same way, PVC status
  of those PVCs; creates tokens only for the ServiceAccounts of its pods; Leases only in `kube-node-lease` under
  its own name;
- allows everything else only through the static node rules (`NODE_RULES`, the bootstrap policy's NodeRules()).
A request it does not allow gets its reason appended to the 403 message. kubeadm binds the `system:node`
ClusterRole to nobody, so RBAC adds nothing.

NodeRestriction then limits writes: a node creates and modifies only its own Node, deletes and updates the status
of only the pods bound to it, creates only mirror pods bound to itself, and Leases named after itself.
"""

from __future__ import annotations

from typing import Any

from .errors import Forbidden

Obj = dict[str, Any]
NODE_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
LEASE_NAMESPACE = "kube-node-lease"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

_READ = ["get", "list", "watch"]
NODE_RULES: tuple[Obj, ...] = (
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews", "localsubjectaccessreviews"],
     "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["create", "get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch", "update"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch", "update"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]},
    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch", "update"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims", "persistentvolumes"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["endpoints"], "verbs": ["get"]},
    {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
     "verbs": ["create", "get", "list", "watch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
     "verbs": ["create", "delete", "get", "patch", "update"]},
    {"apiGroups": ["storage.k8s.io"], "resources": ["volumeattachments"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims/status"], "verbs": ["get", "patch", "update"]},
    {"apiGroups": ["storage.k8s.io"], "resources": ["csidrivers"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["storage.k8s.io"], "resources": ["csinodes"],
     "verbs": ["create", "delete", "get", "patch", "update"]},
    {"apiGroups": ["node.k8s.io"], "resources": ["runtimeclasses"], "verbs": ["get", "list", "watch"]},
)


def node_name(user: Any) -> str | None:
    """The node a user is (`system:node:<name>` in `system:nodes`), or None for anyone else."""
    if NODE_GROUP in getattr(user, "groups", ()) and user.name.startswith(NODE_PREFIX):
        return user.name[len(NODE_PREFIX):]
    return None


def node_of_user_name(user_name: str) -> str | None:
    """The node name in a `system:node:<name>` user name (what admission sees of the caller), or None."""
    return user_name[len(NODE_PREFIX):] if user_name.startswith(NODE_PREFIX) else None


# --- the graph: what pods bound to a node reference ---------------------------------------------------------------
def _pod_references(pod: Obj) -> dict[str, set[str]]:
    spec = pod.get("spec") or {}
    refs: dict[str, set[str]] = {"secrets": set(), "configmaps": set(), "persistentvolumeclaims": set(),
                                 "serviceaccounts": set()}
    refs["serviceaccounts"].add(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    for s in spec.get("imagePullSecrets") or []:
        refs["secrets"].add(s.get("name", ""))
    for v in spec.get("volumes") or []:
        if "secret" in v:
            refs["secrets"].add((v["secret"] or {}).get("secretName", ""))
        if "configMap" in v:
            refs["configmaps"].add((v["configMap"] or {}).get("name", ""))
        if "persistentVolumeClaim" in v:
            refs["persistentvolumeclaims"].add((v["persistentVolumeClaim"] or {}).get("claimName", ""))
        for src in ((v.get("projected") or {}).get("sources") or []):
            if "secret" in src:
                refs["secrets"].add((src["secret"] or {}).get("name", ""))
            if "configMap" in src:
                refs["configmaps"].add((src["configMap"] or {}).get("name", ""))
        for key in ("cephfs", "rbd", "iscsi", "flexVolume", "scaleIO", "storageos", "cinder", "azureFile"):
            ref = (v.get(key) or {}).get("secretRef") or {}
            if ref.get("name"):
                refs["secrets"].add(ref["name"])
        if (v.get("azureFile") or {}).get("secretName"):
            refs["secrets"].add(v["azureFile"]["secretName"])
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) + \
            (spec.get("ephemeralContainers") or []):
        for e in c.get("envFrom") or []:
            if "secretRef" in e:
                refs["secrets"].add((e["secretRef"] or {}).get("name", ""))
            if "configMapRef" in e:
                refs["configmaps"].add((e["configMapRef"] or {}).get("name", ""))
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if "secretKeyRef" in vf:
                refs["secrets"].add((vf["secretKeyRef"] or {}).get("name", ""))
            if "configMapKeyRef" in vf:
                refs["configmaps"].add((vf["configMapKeyRef"] or {}).get("name", ""))
    return refs


class NodeAuthorizer:
    """Decides requests of node users from the objects in the store (pods bound to the node and what they use)."""

    def __init__(self, store: Any, registry: Any) -> None:
        self.store = store
        self.registry = registry

    def _pods_on(self, node: str) -> list[Obj]:
        return self.store.list(self.registry.get("", "pods"), None,
                               lambda p: (p.get("spec") or {}).get("nodeName") == node)

    def _related(self, node: str, resource: str, namespace: str, name: str) -> bool:
        if resource == "persistentvolumes":
            pvc_rt = self.registry.get("", "persistentvolumeclaims")
            for pod in self._pods_on(node):
                for claim in _pod_references(pod)["persistentvolumeclaims"]:
                    pvc = self.store.try_get(pvc_rt, pod["metadata"]["namespace"], claim) if pvc_rt else None
                    if pvc and (pvc.get("spec") or {}).get("volumeName") == name:
                        return True
            return False
        return any(pod["metadata"].get("namespace") == namespace and name in _pod_references(pod)[resource]
                   for pod in self._pods_on(node))

    def decide(self, node: str, a: Any, rules_allow) -> tuple[bool, str]:
        """(allowed, reason when not) for node `node` asking for `a` (`rules_allow(rules, a)` evaluates RBAC
        rules)."""
        if a.resource_request and a.group == "" and a.resource in ("secrets", "configmaps"):
            return self._read_namespaced(node, a)
        if a.resource_request and a.group == "" and a.resource == "persistentvolumeclaims":
            if a.subresource == "status":
                if a.verb not in ("get", "update", "patch"):
                    return False, "can only get, update, or patch persistentvolumeclaim status"
                return self._related_named(node, a)
            return self._get_only(node, a)
        if a.resource_request and a.group == "" and a.resource == "persistentvolumes":
            return self._get_only(node, a)
        if a.resource_request and a.group == "" and a.resource == "serviceaccounts":
            if a.verb != "create" or not a.name:
                return False, "can only create tokens for individual service accounts"
            if a.subresource != "token":
                return False, "can only create token subresource of serviceaccount"
            return self._related_named(node, a)
        if a.resource_request and a.group == "coordination.k8s.io" and a.resource == "leases":
            if a.verb not in ("get", "create", "update", "patch", "delete"):
                return False, "can only get, create, update, patch, or delete a node lease"
            if a.namespace != LEASE_NAMESPACE:
                return False, f'can only access leases in the "{LEASE_NAMESPACE}" system namespace'
            if a.verb != "create" and a.name != node:
                return False, "can only access node lease with the same name as the requesting node"
            return True, ""
        return rules_allow(NODE_RULES, a), ""

    def _read_namespaced(self, node: str, a: Any) -> tuple[bool, str]:
        if a.verb not in ("get", "list", "watch"):
            return False, "can only read resources of this type"
        if a.subresource:
            return False, "cannot read subresource"
        if not a.namespace:
            return False, "can only read namespaced object of this type"
        return self._related_named(node, a)

    def _get_only(self, node: str, a: Any) -> tuple[bool, str]:
        if a.verb != "get":
            return False, "can only get individual resources of this type"
        if a.subresource:
            return False, "cannot get subresource"
        return self._related_named(node, a)

    def _related_named(self, node: str, a: Any) -> tuple[bool, str]:
        if not a.name:
            return False, "No Object name found"
        if not self._related(node, a.resource, a.namespace, a.name):
            return False, f"no relationship found between node '{node}' and this object"
        return True, ""


# --- NodeRestriction ----------------------------------------------------------------------------------------------
def _forbidden(resource: str, name: str, message: str) -> Forbidden:
    return Forbidden(f'{resource} "{name}" is forbidden: {message}', details={"name": name, "kind": resource})


def node_restriction(node: str, op: str, kind: str, obj: Obj, old: Obj | None) -> None:
    """Raise Forbidden when node `node` may not make this write (op CREATE / UPDATE / DELETE of `obj`)."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if kind == "Node":
        if name != node:
            raise _forbidden("nodes", name, f'node "{node}" is not allowed to modify node "{name}"')
        if op == "UPDATE" and old is not None and \
                ((obj.get("spec") or {}).get("taints") or []) != ((old.get("spec") or {}).get("taints") or []):
            raise _forbidden("nodes", name, f'node "{node}" is not allowed to modify taints')
    elif kind == "Pod":
        bound = (obj.get("spec") or {}).get("nodeName") or ""
        if op == "CREATE":
            if MIRROR_ANNOTATION not in (meta.get("annotations") or {}):
                raise _forbidden("pods", name, f'pod does not have "{MIRROR_ANNOTATION}" annotation, node '
                                               f'"{node}" can only create mirror pods')
            if bound != node:
                raise _forbidden("pods", name, f'node "{node}" can only create pods with spec.nodeName set to '
                                               "itself")
        elif op == "DELETE" and bound != node:
            raise _forbidden("pods", name, f'node "{node}" can only delete pods with spec.nodeName set to itself')
        elif op == "UPDATE" and ((old or {}).get("spec") or {}).get("nodeName") != node:
            raise _forbidden("pods", name, f'node "{node}" can only update pod status for pods with spec.nodeName '
                                           "set to itself")
    elif kind == "Lease" and op == "CREATE" and name != node:
        raise _forbidden("leases.coordination.k8s.io", name,
                         "can only access node lease with the same name as the requesting node")
