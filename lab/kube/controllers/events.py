"""core/v1 Events as the real components write them, aggregated (count, lastTimestamp) like the event recorder."""

from __future__ import annotations

import time
from typing import Any

from ..store import now_iso


class EventRecorder:
    """Writes Events about objects; an identical event (same object, reason, message, source) bumps its count."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._seen: dict[tuple, str] = {}

    def record(self, obj: dict, etype: str, reason: str, message: str, *, component: str,
               host: str | None = None, field_path: str | None = None) -> None:
        """Record an event of `etype` ("Normal" | "Warning") about `obj` from `component` (on `host`)."""
        store, rt = self.ctx.store, self.ctx.rt("", "events")
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        if store.try_get(self.ctx.rt("", "namespaces"), None, ns) is None:
            return
        if self.ctx.namespace_terminating(ns) and meta.get("namespace"):
            return
        key = (meta.get("uid"), reason, message, etype, component, host, field_path)
        now = now_iso()
        name = self._seen.get(key)
        if name is not None:
            def bump(ev: dict) -> None:
                ev["count"] = int(ev.get("count") or 1) + 1
                ev["lastTimestamp"] = now
            try:
                store.mutate(rt, ns, name, bump)
                return
            except Exception:
                self._seen.pop(key, None)
        involved: dict[str, Any] = {
            "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name"),
            "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
        }
        if meta.get("namespace"):
            involved["namespace"] = meta["namespace"]
        if field_path:
            involved["fieldPath"] = field_path
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        ev = {
            "metadata": {"name": f"{meta.get('name')}.{time.time_ns():x}", "namespace": ns},
            "involvedObject": involved, "reason": reason, "message": message, "type": etype,
            "source": source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": None, "reportingComponent": "", "reportingInstance": "",
        }
        created = store.create(rt, ev, ns)
        self._seen[key] = created["metadata"]["name"]

    def for_object(self, obj: dict) -> list[dict]:
        """Events recorded about `obj` (by uid), oldest first."""
        uid = (obj.get("metadata") or {}).get("uid")
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        evs = self.ctx.store.list(self.ctx.rt("", "events"), ns,
                                  lambda e: (e.get("involvedObject") or {}).get("uid") == uid)
        return sorted(evs, key=lambda e: e["metadata"]["resourceVersion"].zfill(20))
