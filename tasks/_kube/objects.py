"""Kubernetes objects of a verification run: its namespace (created, and deleted and watched until gone), the
manifests created in it, and a cleanup that survives cancellation."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import anyio
from kubernetes.aio import client as kclient
from kubernetes.aio import watch as kwatch
from kubernetes.aio.client.exceptions import ApiException

log = logging.getLogger(__name__)


async def create_namespace(api: kclient.ApiClient, body: dict[str, Any]) -> str:
    """Create the Namespace (generateName) and return its name."""
    ns = await kclient.CoreV1Api(api).create_namespace(body=body)
    return ns.metadata.name


async def copy_pull_secrets(api: kclient.ApiClient, names: list[str], source_ns: str, target_ns: str) -> None:
    """Copy image pull Secrets (type and data only) into the smoke namespace."""
    core = kclient.CoreV1Api(api)
    for name in names:
        src = await core.read_namespaced_secret(name, source_ns)
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": src.type,
                "data": dict(src.data or {})}
        await core.create_namespaced_secret(target_ns, body=body)


async def create_objects(api: kclient.ApiClient, namespace: str, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create each manifest in `namespace`; returns the created objects (as the API returned them)."""
    core, apps, net = kclient.CoreV1Api(api), kclient.AppsV1Api(api), kclient.NetworkingV1Api(api)
    creators = {"Pod": core.create_namespaced_pod, "Service": core.create_namespaced_service,
                "Deployment": apps.create_namespaced_deployment,
                "NetworkPolicy": net.create_namespaced_network_policy}
    made = []
    for obj in objs:
        created = await creators[obj["kind"]](namespace, body=obj)
        made.append(api.sanitize_for_serialization(created))
    return made


async def delete_namespace(api: kclient.ApiClient, name: str, *, timeout_s: float) -> bool:
    """Delete the namespace and WATCH until it is gone. True when gone within `timeout_s` (also when it was
    already gone), False when it is still terminating at the deadline."""
    core = kclient.CoreV1Api(api)
    try:
        await core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
    selector = f"metadata.name={name}"
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                listing = await core.list_namespace(field_selector=selector)
                if not listing.items:
                    return True
                rv = listing.metadata.resource_version
                try:
                    async with kwatch.Watch() as w:
                        async for ev in w.stream(core.list_namespace, field_selector=selector, resource_version=rv,
                                                 timeout_seconds=max(1, int(timeout_s))):
                            if ev["type"] == "DELETED":
                                return True
                except ApiException as exc:
                    if exc.status != 410:
                        raise
    except TimeoutError:
        return False


async def shielded(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run `make()` to completion even when the caller is cancelled meanwhile (task cancel, Prefect timeout or
    flow cancellation), then re-raise that cancellation. `make()` must bound its own duration."""
    job = asyncio.ensure_future(make())
    cancelled: BaseException | None = None
    while not job.done():
        try:
            with anyio.CancelScope(shield=True):
                await asyncio.shield(job)
        except asyncio.CancelledError as exc:
            cancelled = exc
        except BaseException:  # noqa: BLE001 - the job's own error is read below
            break
    if cancelled is not None:
        if not job.cancelled() and job.exception() is not None:
            log.warning("cleanup failed: %r", job.exception())
        raise cancelled
    return job.result()
