"""How the real registry deletes, per kind: grace periods, the finalizers a propagation policy adds, and what a
DELETE answers.

Facts from kube-apiserver 1.22 (`genericregistry.Store.Delete`, `BeforeDelete`, the pod strategy's
`CheckGracefulDelete`, each kind's `DefaultGarbageCollectionPolicy`):
- The deleted object is returned for kinds whose storage sets `ReturnDeletedObject` (pods, services,
  serviceaccounts, persistentvolumes, persistentvolumeclaims); every other kind answers a `Status` with
  `details {name, group, kind: <resource>, uid}`. An object that is still there (graceful deletion, finalizers)
  is always returned as it now is.
- Pods are deleted gracefully: `deletionTimestamp = now + grace`, `deletionGracePeriodSeconds = grace`, grace from
  the request, else `spec.terminationGracePeriodSeconds`, else 30. An unscheduled pod, or one that already
  Succeeded or Failed, goes at once (grace 0). A second DELETE may shorten the grace period, never lengthen it.
- `propagationPolicy` Orphan adds the `orphan` finalizer, Foreground the `foregroundDeletion` finalizer;
  Background adds none. Without a policy, the kind's default applies: Orphan for batch/v1 Jobs and
  ReplicationControllers (kept for backwards compatibility), Background for everything else.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import BadRequest
from .resources import ResourceType

Obj = dict[str, Any]

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
GC_FINALIZERS = (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)
POLICIES = ("Orphan", "Background", "Foreground")
DEFAULT_POD_GRACE = 30

RETURNS_DELETED_OBJECT = frozenset({("", "pods"), ("", "services"), ("", "serviceaccounts"),
                                    ("", "persistentvolumes"), ("", "persistentvolumeclaims")})
_ORPHAN_BY_DEFAULT = frozenset({("batch", "jobs"), ("", "replicationcontrollers")})


def default_policy(rt: ResourceType) -> str:
    """The propagation policy a DELETE without one gets for `rt`."""
    return "Orphan" if rt.key in _ORPHAN_BY_DEFAULT else "Background"


def requested_policy(rt: ResourceType, policy: str | None, orphan_dependents: bool | None) -> str:
    """The effective propagation policy of a DELETE (query or DeleteOptions), validated as the server does."""
    if policy is not None and orphan_dependents is not None:
        raise BadRequest("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"" + policy
                         + "\": orphanDependents and deletionPropagation cannot be both set", code=422,
                         reason="Invalid")
    if policy is not None:
        if policy not in POLICIES:
            raise BadRequest(f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                             f'"{policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
                             code=422, reason="Invalid")
        return policy
    if orphan_dependents is not None:
        return "Orphan" if orphan_dependents else "Background"
    return default_policy(rt)


def pod_grace_seconds(pod: Obj, requested: int | None) -> int:
    """The grace period a pod DELETE gets (0 = gone at once), as the pod strategy's CheckGracefulDelete says."""
    spec = pod.get("spec") or {}
    if not spec.get("nodeName"):
        return 0
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, int(requested))
    grace = spec.get("terminationGracePeriodSeconds")
    return DEFAULT_POD_GRACE if grace is None else max(0, int(grace))


def grace_seconds(rt: ResourceType, obj: Obj, requested: int | None) -> int:
    """The grace period of a DELETE of `obj`: only pods are deleted gracefully."""
    return pod_grace_seconds(obj, requested) if rt.key == ("", "pods") else 0


def finalizers_for(policy: str) -> list[str]:
    """The garbage collector's finalizers a DELETE with `policy` adds to the object."""
    return {"Orphan": [ORPHAN_FINALIZER], "Foreground": [FOREGROUND_FINALIZER]}.get(policy, [])


def deletion_timestamp(grace: int) -> str:
    """`deletionTimestamp` for a deletion `grace` seconds from now (RFC 3339, seconds)."""
    return (datetime.now(timezone.utc) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")


def success_status(rt: ResourceType, obj: Obj) -> Obj:
    """The `Status` a DELETE answers once an object of a kind that does not return it is gone."""
    meta = obj.get("metadata") or {}
    details: Obj = {"name": meta.get("name", "")}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = meta.get("uid", "")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def delete_answer(rt: ResourceType, obj: Obj, gone: bool, *, custom: bool) -> Obj:
    """What a DELETE answers: the object when it is still there or its kind returns it, else a `Status`.
    Custom resources never return the deleted object."""
    if not gone or (not custom and rt.key in RETURNS_DELETED_OBJECT):
        return obj
    return success_status(rt, obj)
