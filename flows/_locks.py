"""Locks and slots for flows that change nodes: Prefect global concurrency limits, created when missing.

- `windows-node-joins` bounds how many joins run at once across the fleet (created with
  `FLEET_JOIN_PARALLELISM` slots when deployments are served or deployed; change it with
  `prefect gcl update windows-node-joins --limit N`);
- `windows-node-<address-port>` (one slot) serialises joins of one host, created on first use;
- `calico-cluster-<server>` (one slot) serialises cluster-wide Calico changes.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from typing import AsyncIterator

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

_UNSAFE = re.compile(r"[^a-z0-9-]+")
FLEET_JOIN_LIMIT = "windows-node-joins"
FLEET_JOIN_PARALLELISM = 10


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


async def ensure_fleet_limits() -> None:
    """Create the fleet-wide limits the flows take (run when deployments are served or deployed)."""
    await ensure_limit(FLEET_JOIN_LIMIT, FLEET_JOIN_PARALLELISM)


@asynccontextmanager
async def _lock(names: list[str], timeout_s: float, lease_s: float) -> AsyncIterator[list[str]]:
    for name in names:
        await ensure_limit(name, FLEET_JOIN_PARALLELISM if name == FLEET_JOIN_LIMIT else 1)
    async with concurrency(names, occupy=1, strict=True, timeout_seconds=timeout_s, lease_duration=lease_s):
        yield names


def join_slot(target: str, *, timeout_s: float = 3600, lease_s: float = 300):
    """Hold a fleet-wide join slot and the node's lock for the body, both or neither: a second join of the same
    node waits (up to `timeout_s`) instead of running at the same time, and no more than the fleet limit's slots
    run at once. The lease frees the slots if this process dies."""
    return _lock([FLEET_JOIN_LIMIT, node_lock_name(target)], timeout_s, lease_s)


def cluster_lock(server_url: str, *, timeout_s: float = 600, lease_s: float = 300):
    """Hold the cluster's lock for a cluster-wide change (Calico reconfiguration): when a fleet joins at once, one
    run changes the cluster and the others then find it unchanged, instead of racing on the same objects."""
    return _lock(["calico-cluster-" + _UNSAFE.sub("-", server_url.lower()).strip("-")], timeout_s, lease_s)
