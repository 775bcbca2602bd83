"""The garbage collector of kube-controller-manager: dependents follow their owners (`metadata.ownerReferences`).

- Background: once every owner of a dependent is gone, the dependent is deleted (the kind's default policy);
  a dependent that still has a live owner only loses its dangling reference.
- Orphan: an owner carrying the `orphan` finalizer has its references removed from every dependent, then the
  finalizer goes (and with it the owner).
- Foreground: an owner carrying `foregroundDeletion` has its dependents deleted (in the foreground too); the
  finalizer goes once no dependent with `blockOwnerDeletion: true` is left.

It works from store events, after the write that caused them (the next loop turn, as the real collector does it
asynchronously), and runs whether or not the other controllers do: a kubeadm cluster always has it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..deletion import FOREGROUND_FINALIZER, ORPHAN_FINALIZER
from ..errors import ApiError, NotFound
from ..store import Event, Store

log = logging.getLogger("lab.kube.controllers")
Ref = tuple[tuple[str, str], str, str]  # (type key, namespace, name)


class GarbageCollector:
    """Attach to a store with `GarbageCollector(store)`; it keeps an owner index and collects from events."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._live: dict[str, Ref] = {}                     # uid → where that object lives
        self._dependents: dict[str, set[Ref]] = {}          # owner uid → dependents referring to it
        self._owners_of: dict[Ref, set[str]] = {}           # dependent → owner uids it refers to
        self._pending: list[tuple[str, Any]] = []
        self._scheduled = False
        store.add_listener(self._on_event)

    # --- index ---------------------------------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        meta = ev.obj.get("metadata") or {}
        ref: Ref = (ev.rt.key, meta.get("namespace") or "", meta.get("name", ""))
        uid = meta.get("uid", "")
        for owner in self._owners_of.pop(ref, set()):
            self._dependents.get(owner, set()).discard(ref)
        if ev.type == "DELETED":
            self._live.pop(uid, None)
            self._queue("owner-gone", uid)
            for owner in {r.get("uid") for r in meta.get("ownerReferences") or []}:
                self._queue("owner-check", owner)
            return
        self._live[uid] = ref
        owners = {r.get("uid") for r in meta.get("ownerReferences") or [] if r.get("uid")}
        if owners:
            self._owners_of[ref] = owners
            for owner in owners:
                self._dependents.setdefault(owner, set()).add(ref)
                if owner not in self._live:
                    self._queue("owner-gone", owner)
        fins = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and (ORPHAN_FINALIZER in fins or FOREGROUND_FINALIZER in fins):
            self._queue("owner-check", uid)

    def _queue(self, what: str, uid: Any) -> None:
        self._pending.append((what, uid))
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._run()
            return
        self._scheduled = True
        loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        while self._pending:
            what, uid = self._pending.pop(0)
            try:
                if what == "owner-gone":
                    self._collect(uid)
                else:
                    self._process_owner(uid)
            except ApiError as exc:
                log.debug("garbage collection of %s %s: %s", what, uid, exc)

    # --- collection ----------------------------------------------------------------------------------------------
    def _obj(self, ref: Ref) -> dict | None:
        rt = self.store.registry.get(*ref[0])
        return self.store.try_get(rt, ref[1] or None, ref[2]) if rt is not None else None

    def _collect(self, owner_uid: str) -> None:
        """An owner is gone: delete dependents left without a live owner, drop the dangling reference in others."""
        if owner_uid in self._live:
            return
        for ref in sorted(self._dependents.pop(owner_uid, set())):
            obj = self._obj(ref)
            if obj is None:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") in self._live for r in refs if r.get("uid") != owner_uid):
                self._drop_refs(ref, {owner_uid})
            elif not obj["metadata"].get("deletionTimestamp"):
                self._delete(ref, None)

    def _process_owner(self, uid: str) -> None:
        ref = self._live.get(uid)
        owner = self._obj(ref) if ref else None
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        fins = owner["metadata"].get("finalizers") or []
        deps = sorted(self._dependents.get(uid, set()))
        if ORPHAN_FINALIZER in fins:
            for dep in deps:
                self._drop_refs(dep, {uid})
            self._remove_finalizer(ref, ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in fins:
            blocking = 0
            for dep in deps:
                obj = self._obj(dep)
                if obj is None:
                    continue
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(dep, "Foreground")
                    obj = self._obj(dep)
                if obj is not None and any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                                           for r in obj["metadata"].get("ownerReferences") or []):
                    blocking += 1
            if not blocking:
                self._remove_finalizer(ref, FOREGROUND_FINALIZER)

    def _delete(self, ref: Ref, policy: str | None) -> None:
        rt = self.store.registry.get(*ref[0])
        try:
            self.store.delete(rt, ref[1] or None, ref[2], propagation=policy)
        except NotFound:
            pass

    def _drop_refs(self, ref: Ref, owners: set[str]) -> None:
        rt = self.store.registry.get(*ref[0])

        def drop(o: dict) -> None:
            kept = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") not in owners]
            if kept:
                o["metadata"]["ownerReferences"] = kept
            else:
                o["metadata"].pop("ownerReferences", None)
        try:
            self.store.mutate(rt, ref[1] or None, ref[2], drop)
        except NotFound:
            pass

    def _remove_finalizer(self, ref: Ref, finalizer: str) -> None:
        rt = self.store.registry.get(*ref[0])

        def strip(o: dict) -> None:
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or [] if f != finalizer]
        try:
            self.store.mutate(rt, ref[1] or None, ref[2], strip)
        except NotFound:
            pass
