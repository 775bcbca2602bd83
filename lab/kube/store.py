"""The emulated cluster's object store: versioned objects, an event log for watches, admission hooks, listeners.

Everything runs on one asyncio loop, so each method is atomic. Objects go in and come out as deep copies: callers
may keep and mutate what they get. `resourceVersion` is one cluster-wide counter, as with etcd.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable, Iterable

from . import deletion
from .errors import AlreadyExists, BadRequest, Conflict, Gone, NotFound
from .resources import Registry, ResourceType

Obj = dict[str, Any]


def now_iso() -> str:
    """The current time in the API's RFC 3339 form (seconds, `Z`)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED, with the object after (and, for MODIFIED, before) it."""

    type: str
    rt: ResourceType
    obj: Obj
    old: Obj | None
    rv: int


# An admission hook sees (operation, new object, old object or None) and returns the object to store,
# or raises an ApiError (Invalid, Forbidden...). Operation is "CREATE", "UPDATE" or "DELETE".
Admission = Callable[[str, Obj, Obj | None], Obj]
Listener = Callable[[Event], None]

_ALL = object()


class Store:
    """In-memory objects of every served type, with watches from any resourceVersion still in the log."""

    def __init__(self, registry: Registry | None = None, *, log_size: int = 20000) -> None:
        self.registry = registry or Registry()
        self._objs: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._rv = itertools.count(1000)
        self._last_rv = 999
        self._log: deque[Event] = deque(maxlen=log_size)
        self._watchers: set[asyncio.Queue[Event | None]] = set()
        self._admission: dict[tuple[str, str] | object, list[Admission]] = {}
        self._listeners: list[Listener] = []

    # --- hooks -------------------------------------------------------------------------------------------
    def add_admission(self, hook: Admission, rt: ResourceType | None = None) -> None:
        """Run `hook` on every write of `rt` (every type when None), in the order added."""
        self._admission.setdefault(rt.key if rt else _ALL, []).append(hook)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event)` synchronously after every change (controllers schedule their work from it)."""
        self._listeners.append(listener)

    # --- reads -------------------------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        """The latest resourceVersion, as a list returns it."""
        return str(self._last_rv)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        """The object, or NotFound."""
        obj = self._bucket(rt).get(self._okey(rt, namespace, name))
        if obj is None:
            raise NotFound.of(rt.plural, name, rt.group)
        return copy.deepcopy(obj)

    def try_get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The object, or None."""
        obj = self._bucket(rt).get(self._okey(rt, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, rt: ResourceType, namespace: str | None = None,
             predicate: Callable[[Obj], bool] | None = None) -> list[Obj]:
        """Objects of `rt` (in `namespace` when given) for which `predicate` holds, sorted by namespace/name."""
        out = []
        for (ns, name), obj in sorted(self._bucket(rt).items()):
            if namespace and rt.namespaced and ns != namespace:
                continue
            if predicate is None or predicate(obj):
                out.append(copy.deepcopy(obj))
        return out

    # --- writes ------------------------------------------------------------------------------------------
    def create(self, rt: ResourceType, obj: Obj, namespace: str | None = None) -> Obj:
        """Store a new object: fills metadata (uid, resourceVersion, creationTimestamp, generateName)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            ns = namespace or meta.get("namespace") or "default"
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
            meta["namespace"] = ns
            if rt.key != ("", "namespaces") and self.try_get(self.registry.get("", "namespaces"), None, ns) is None:
                raise NotFound.of("namespaces", ns)
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise BadRequest("name or generateName is required", code=422, reason="Invalid")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        key = self._okey(rt, meta.get("namespace"), meta["name"])
        if key in self._bucket(rt):
            raise AlreadyExists.of(rt.plural, meta["name"], rt.group)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        meta.pop("resourceVersion", None)
        meta.pop("deletionTimestamp", None)
        meta.pop("deletionGracePeriodSeconds", None)
        obj = self._admit(rt, "CREATE", obj, None)
        return self._write(rt, key, obj, None, "ADDED")

    def replace(self, rt: ResourceType, obj: Obj, *, subresource: str | None = None) -> Obj:
        """Replace an object. A stale `metadata.resourceVersion` gets 409 Conflict; an absent one always wins.

        With `subresource="status"` only `.status` is taken from `obj`; otherwise `.status` is kept from the
        stored object for types with a status subresource (as the real server does).
        """
        meta = obj.get("metadata") or {}
        key = self._okey(rt, meta.get("namespace"), meta.get("name", ""))
        old = self._bucket(rt).get(key)
        if old is None:
            raise NotFound.of(rt.plural, meta.get("name", ""), rt.group)
        sent_rv = meta.get("resourceVersion")
        if sent_rv and str(sent_rv) != old["metadata"]["resourceVersion"]:
            raise Conflict.stale(rt.plural, meta["name"], rt.group)
        new = copy.deepcopy(obj)
        if subresource == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status", {})
            new = merged
        else:
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if k in old["metadata"]:
                    new.setdefault("metadata", {})[k] = old["metadata"][k]
                else:
                    new.setdefault("metadata", {}).pop(k, None)
            if "status" in rt.subresources:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        new = self._admit(rt, "UPDATE", new, copy.deepcopy(old))
        if new == old:  # a no-op write keeps its resourceVersion and emits nothing, as on a real server
            return copy.deepcopy(old)
        if new["metadata"].get("deletionTimestamp") and not self._finalizers(new) \
                and not new["metadata"].get("deletionGracePeriodSeconds"):
            return self._remove(rt, key, new)
        return self._write(rt, key, new, old, "MODIFIED")

    def mutate(self, rt: ResourceType, namespace: str | None, name: str, fn: Callable[[Obj], Obj | None],
               *, subresource: str | None = None) -> Obj:
        """Read-modify-write: `fn` edits a copy in place (or returns a new object); the result replaces it."""
        cur = self.get(rt, namespace, name)
        res = fn(cur)
        new = res if res is not None else cur
        new.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
        return self.replace(rt, new, subresource=subresource)

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *, propagation: str | None = None,
               grace_period: int | None = None) -> Obj:
        """Delete an object as the real registry does (see `deletion`): pods terminate gracefully (they get a
        `deletionTimestamp` and the kubelet finishes the deletion), objects with finalizers wait for them, and
        `propagation` (the kind's default when None) adds the garbage collector's `orphan` / `foregroundDeletion`
        finalizer. Returns the object as it now is (gone or still there)."""
        key = self._okey(rt, namespace, name)
        old = self._bucket(rt).get(key)
        if old is None:
            raise NotFound.of(rt.plural, name, rt.group)
        self._admit(rt, "DELETE", copy.deepcopy(old), copy.deepcopy(old))
        policy = propagation or deletion.default_policy(rt)
        grace = deletion.grace_seconds(rt, old, grace_period)
        meta = old["metadata"]
        if meta.get("deletionTimestamp"):
            current = meta.get("deletionGracePeriodSeconds")
            if current is None or grace >= current:
                return copy.deepcopy(old)
            new = copy.deepcopy(old)  # a shorter grace period replaces the longer one
        else:
            new = copy.deepcopy(old)
            fins = new["metadata"].setdefault("finalizers", [])
            for f in deletion.finalizers_for(policy):
                if f not in fins:
                    fins.append(f)
            if not fins:
                new["metadata"].pop("finalizers")
        if grace == 0 and not self._finalizers(new):
            return self._remove(rt, key, new)
        new["metadata"]["deletionTimestamp"] = deletion.deletion_timestamp(grace)
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        if rt.key == ("", "namespaces"):
            new.setdefault("status", {})["phase"] = "Terminating"
        return self._write(rt, key, new, old, "MODIFIED")

    def finalize(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        """Drop every finalizer of an object being deleted, which completes its deletion."""
        def strip(o: Obj) -> None:
            o["metadata"]["finalizers"] = []
            if "spec" in o and isinstance(o["spec"], dict) and "finalizers" in o["spec"]:
                o["spec"]["finalizers"] = []
        self.mutate(rt, namespace, name, strip)

    # --- watches -----------------------------------------------------------------------------------------
    async def watch(self, rt: ResourceType, namespace: str | None = None,
                    resource_version: str | None = None) -> AsyncIterator[Event]:
        """Yield events of `rt` after `resource_version` (from now when None or "0" after a synthetic ADDED
        of every current object). Raises Gone when that version has left the log."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            backlog: Iterable[Event]
            if resource_version in (None, "", "0"):
                backlog = [Event("ADDED", rt, o, None, int(o["metadata"]["resourceVersion"]))
                           for o in self.list(rt, namespace)] if resource_version == "0" else []
                start = self._last_rv
            else:
                start = int(resource_version)
                oldest = self._log[0].rv if self._log else self._last_rv + 1
                if start < oldest - 1 and start < self._last_rv:
                    raise Gone(f"too old resource version: {start} ({oldest - 1})")
                backlog = [e for e in self._log if e.rv > start]
            for ev in backlog:
                if self._matches(ev, rt, namespace):
                    yield ev
                    start = max(start, ev.rv)
            while True:
                ev = await queue.get()
                if ev is None:
                    return
                if ev.rv > start and self._matches(ev, rt, namespace):
                    yield ev
        finally:
            self._watchers.discard(queue)

    def close_watches(self) -> None:
        """End every open watch (server shutdown)."""
        for q in list(self._watchers):
            q.put_nowait(None)

    def compact(self) -> None:
        """Forget the event log, as etcd compaction does: older resourceVersions then get 410 Gone."""
        self._log.clear()

    # --- internals ---------------------------------------------------------------------------------------
    @staticmethod
    def _matches(ev: Event, rt: ResourceType, namespace: str | None) -> bool:
        if ev.rt.key != rt.key:
            return False
        return not (namespace and rt.namespaced and ev.obj["metadata"].get("namespace") != namespace)

    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], Obj]:
        return self._objs.setdefault(rt.key, {})

    @staticmethod
    def _okey(rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "default") if rt.namespaced else "", name)

    @staticmethod
    def _finalizers(obj: Obj) -> list:
        fins = list(obj["metadata"].get("finalizers") or [])
        if obj.get("kind") == "Namespace":
            fins += (obj.get("spec") or {}).get("finalizers") or []
        return fins

    def _admit(self, rt: ResourceType, op: str, obj: Obj, old: Obj | None) -> Obj:
        for hook in self._admission.get(_ALL, []) + self._admission.get(rt.key, []):
            obj = hook(op, obj, old) or obj
        return obj

    def _next_rv(self) -> int:
        self._last_rv = next(self._rv)
        return self._last_rv

    def _write(self, rt: ResourceType, key: tuple[str, str], obj: Obj, old: Obj | None, etype: str) -> Obj:
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self._bucket(rt)[key] = obj
        self._emit(Event(etype, rt, copy.deepcopy(obj), copy.deepcopy(old) if old else None, rv))
        return copy.deepcopy(obj)

    def _remove(self, rt: ResourceType, key: tuple[str, str], obj: Obj) -> Obj:
        rv = self._next_rv()
        old = self._bucket(rt).pop(key, None)
        obj["metadata"]["resourceVersion"] = str(rv)
        self._emit(Event("DELETED", rt, copy.deepcopy(obj), old, rv))
        return copy.deepcopy(obj)

    def _emit(self, ev: Event) -> None:
        self._log.append(ev)
        for q in list(self._watchers):
            q.put_nowait(ev)
        for listener in list(self._listeners):
            listener(ev)
