"""Admission of a join started from a deployment (the UI, the API, an event): the request must fit the
`JoinPolicy`, checked before any connection is made; a refusal ends the run `Rejected` and emits
`windows-node.join.rejected` with the reasons."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from prefect.exceptions import ObjectNotFound
from prefect.runtime import deployment, flow_run
from prefect.states import Failed, State

from prefect_windows_nodes.blocks import JoinPolicy
from prefect_windows_nodes.flows._report import emit


def started_from_a_deployment() -> bool:
    """True when this flow run, or the flow run it runs under, belongs to a deployment (UI, API, event trigger,
    schedule) — not a direct Python call."""
    return bool(deployment.get_id() or flow_run.get_parent_deployment_id())


async def policy_refusals(policy_block: str, *, host_block: str, address: str, vm_id: str | None,
                          hostname: str | None) -> list[str]:
    """Why the saved JoinPolicy `policy_block` refuses this join ([] when it admits it). A missing policy block
    refuses: a deployment must not join hosts no one has allowed."""
    try:
        policy = await JoinPolicy.aload(policy_block)
    except (ValueError, ObjectNotFound):
        return [f"no JoinPolicy block named {policy_block!r} is saved: save one (see README, 'Who may be joined') "
                "before starting joins from a deployment"]
    return policy.refusals(host_block=host_block, address=address, vm_id=vm_id, hostname=hostname)


def rejected(address: str, reasons: list[str], context: dict[str, Any]) -> State:
    """Emit `windows-node.join.rejected` and return the run's final `Rejected` state (a failed state)."""
    message = "join refused by the JoinPolicy: " + "; ".join(reasons)
    get_run_logger().error("%s", message)
    emit("windows-node.join.rejected", address, address, {"reasons": reasons, **context})
    return Failed(name="Rejected", message=message)
