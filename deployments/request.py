"""`request_join`: start a join over the Prefect API the way a provisioning system should — the parameters
validated against the flow's model first, and an idempotency key derived from the VM id, so a retried request
never starts a second join.

The same over plain HTTP (what `request_join` sends):

    ID=$(curl -s "$PREFECT_API_URL/deployments/name/join-windows-node/join-windows-node" | jq -r .id)
    curl -s -X POST "$PREFECT_API_URL/deployments/$ID/create_flow_run" -H 'Content-Type: application/json' \\
      -d '{"idempotency_key": "join-windows-node:vm-104",
           "parameters": {"request": {"host_block": "windows-node-template", "address": "172.16.3.180",
                                      "vm_id": "vm-104", "cluster_block": "default"}}}'

Prefect accepts unknown parameters there and the run crashes later, so validate first (as this helper does).
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.deployments import arun_deployment

from prefect_windows_nodes.deployments.definitions import JOIN
from prefect_windows_nodes.flows import JoinRequest


def join_idempotency_key(vm_id: str, attempt: str | None = None) -> str:
    """The idempotency key of a join of `vm_id`: the same VM, the same key (Prefect then returns the existing run
    instead of creating one). `attempt` names a deliberate new join of the same VM (e.g. after a removal)."""
    return f"{JOIN}:{vm_id}" + (f":{attempt}" if attempt else "")


async def request_join(*, vm_id: str, attempt: str | None = None, deployment: str = f"{JOIN}/{JOIN}",
                       **request: Any) -> FlowRun:
    """Start (or find, on a retry) the join of the VM `vm_id` through the `join-windows-node` deployment and
    return its flow run, without waiting for it. `request` holds the `JoinRequest` fields (`host_block`,
    `address`, `cluster_block`, ...); they are validated first, so an unknown or malformed field raises
    pydantic's ValidationError (naming the field) before any call to the Prefect API.

    Example:
        ```python
        from prefect_windows_nodes.deployments import request_join

        run = await request_join(vm_id="vm-104", host_block="windows-node-template", address="172.16.3.180")
        ```
    """
    parameters = JoinRequest(vm_id=vm_id, **request).model_dump(mode="json", exclude_unset=True)
    return await arun_deployment(deployment, parameters={"request": parameters},
                                 idempotency_key=join_idempotency_key(vm_id, attempt), timeout=0)
