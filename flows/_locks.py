"""Per-node locks for flows that change a node: Prefect global concurrency limits, created when missing."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from typing import AsyncIterator

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

_UNSAFE = re.compile(r"[^a-z0-9-]+")


def node_lock_name(target: str) -> str:
    """The concurrency-limit name that guards one node: `windows-node-<target>` in lowercase letters, digits, dashes."""
    return "windows-node-" + _UNSAFE.sub("-", target.lower()).strip("-")


async def ensure_limit(name: str, limit: int = 1) -> None:
    """Create the global concurrency limit `name` unless it exists (Prefect only warns about a missing limit and
    then runs WITHOUT locking, so every lock is created before it is taken)."""
    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        try:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
        except ObjectAlreadyExists:  # another run created it between the read and the create
            pass


@asynccontextmanager
async def _lock(name: str, timeout_s: float, lease_s: float) -> AsyncIterator[str]:
    await ensure_limit(name)
    async with concurrency(name, occupy=1, strict=True, timeout_seconds=timeout_s, lease_duration=lease_s):
        yield name


def node_lock(target: str, *, timeout_s: float = 3600, lease_s: float = 300):
    """Hold the node's lock for the body: a second join of the same node waits (up to `timeout_s`) instead of
    running at the same time. The lease frees the slot if this process dies."""
    return _lock(node_lock_name(target), timeout_s, lease_s)


def cluster_lock(server_url: str, *, timeout_s: float = 600, lease_s: float = 300):
    """Hold the cluster's lock for a cluster-wide change (Calico reconfiguration): when a fleet joins at once, one
    run changes the cluster and the others then find it unchanged, instead of racing on the same objects."""
    return _lock("calico-cluster-" + _UNSAFE.sub("-", server_url.lower()).strip("-"), timeout_s, lease_s)
