"""Wait for one Kubernetes object to reach a condition with a WATCH (list once, then stream changes), never by
polling; re-list on 410 Gone or when the server ends the stream; give up at a deadline."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from kubernetes.aio import client as kclient
from kubernetes.aio import watch as kwatch
from kubernetes.aio.client.exceptions import ApiException

Predicate = Callable[[dict[str, Any]], bool]


async def watch_until(api: kclient.ApiClient, list_fn: Callable[..., Awaitable[Any]], predicate: Predicate, *,
                      name: str, timeout_s: float, **list_kwargs: Any) -> tuple[dict[str, Any] | None,
                                                                               dict[str, Any] | None]:
    """Watch the object called `name` (field selector `metadata.name=<name>`) through `list_fn` (e.g.
    `CoreV1Api(api).list_node`, or a namespaced list with `namespace=` in `list_kwargs`) until `predicate(obj)`
    holds for its JSON form (camelCase dict).

    Returns `(matched, last_seen)`: `matched` is the object that satisfied the predicate, or None when the
    deadline passed first; `last_seen` is the latest version seen (None if the object never existed).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    selector = f"metadata.name={name}"
    last: dict[str, Any] | None = None
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None, last
        listing = await list_fn(field_selector=selector, **list_kwargs)
        for item in listing.items or []:
            last = api.sanitize_for_serialization(item)
            if predicate(last):
                return last, last
        rv = listing.metadata.resource_version if listing.metadata else None
        try:
            async with asyncio.timeout(remaining):
                async with kwatch.Watch() as w:
                    async for event in w.stream(list_fn, field_selector=selector, resource_version=rv,
                                                timeout_seconds=max(1, int(remaining) + 1), **list_kwargs):
                        obj = event["raw_object"]
                        if event["type"] == "DELETED":
                            last = None
                            continue
                        if event["type"] not in ("ADDED", "MODIFIED"):
                            continue
                        last = obj
                        if predicate(obj):
                            return obj, obj
        except TimeoutError:
            return None, last
        except ApiException as exc:
            if exc.status != 410:
                raise
        # The server ended the stream (its timeout) or the resourceVersion expired: list again.
