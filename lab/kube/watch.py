"""Watch streams: newline-delimited JSON events over one chunked HTTP response, as the real API server sends them.

- no resourceVersion: synthetic ADDED for what exists now, then changes; "0": the same; a version: the changes
  after it, or one ERROR event with a 410 `Expired` Status when it has left the event log;
- `sendInitialEvents=true`: the current objects, then a BOOKMARK annotated `k8s.io/initial-events-end`;
- label/field selectors turn an object entering or leaving the selection into ADDED or DELETED;
- `timeoutSeconds` ends the stream; `allowWatchBookmarks` adds BOOKMARKs; the stream ends when the client goes
  away (the handler is cancelled) or the server stops (the store closes every watch).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from aiohttp import web

from .errors import Gone
from .resources import ResourceType
from .store import Store

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]
Encoder = Callable[[Obj, bool], Obj]  # (object, first event?) -> what goes into the event's "object"

BOOKMARK_INTERVAL = 10.0  # seconds of real time between bookmarks on a quiet watch


def _line(etype: str, obj: Obj) -> bytes:
    return json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _bookmark(rt: ResourceType, rv: str, *, initial_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": rv}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}


async def serve(request: web.Request, store: Store, rt: ResourceType, namespace: str | None, *,
                resource_version: str | None, match: Predicate, timeout: float | None, bookmarks: bool,
                send_initial: bool, encode: Encoder, content_type: str = "application/json") -> web.StreamResponse:
    """Stream events of `rt` (in `namespace`) whose objects satisfy `match` until timeout, disconnect or shutdown."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type,
                                                   "Transfer-Encoding": "chunked", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    first = [True]

    async def send(etype: str, obj: Obj) -> None:
        await resp.write(_line(etype, encode(obj, first[0]) if etype != "BOOKMARK" else obj))
        if etype != "BOOKMARK":
            first[0] = False

    try:
        async with asyncio.timeout(timeout):
            await _pump(store, rt, namespace, resource_version, match, bookmarks, send_initial, send)
    except TimeoutError:
        pass
    except (ConnectionResetError, ConnectionError):
        return resp
    try:
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError, RuntimeError):
        pass
    return resp


async def _pump(store: Store, rt: ResourceType, namespace: str | None, resource_version: str | None,
                match: Predicate, bookmarks: bool, send_initial: bool,
                send: Callable[[str, Obj], Any]) -> None:
    initial = send_initial or resource_version in (None, "", "0")
    start = resource_version
    if initial:
        start = store.resource_version
        for obj in store.list(rt, namespace, match):
            await send("ADDED", obj)
        if send_initial and bookmarks:
            await send("BOOKMARK", _bookmark(rt, start, initial_end=True))
    events = store.watch(rt, namespace, start)
    last_rv = start or store.resource_version
    pending: asyncio.Future | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(events.__anext__())
            if bookmarks:
                done, _ = await asyncio.wait({pending}, timeout=BOOKMARK_INTERVAL)
                if not done:
                    await send("BOOKMARK", _bookmark(rt, last_rv))
                    continue
            try:
                ev = await pending
            except StopAsyncIteration:
                return
            except Gone as exc:
                await send("ERROR", exc.status())
                return
            finally:
                if pending.done():
                    pending = None
            last_rv = str(ev.rv)
            now = match(ev.obj)
            if ev.type == "MODIFIED":
                before = ev.old is not None and match(ev.old)
                if now and before:
                    await send("MODIFIED", ev.obj)
                elif now:
                    await send("ADDED", ev.obj)
                elif before:
                    await send("DELETED", ev.obj)
            elif now:
                await send(ev.type, ev.obj)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            try:
                await pending
            except BaseException:  # noqa: BLE001 - the generator's own end; nothing to report
                pass
        await events.aclose()
