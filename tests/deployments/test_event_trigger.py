"""A `vm.tagged` event starts a join through the served `join-windows-node` deployment: templated parameters,
the JoinPolicy checked before any connection, nothing for other tags. Against the session's Prefect server and
the lab, with the plugin served by `prefect-windows-nodes serve` in its own process."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

from prefect_windows_nodes.blocks import JoinPolicy

from tests.flows.conftest import started_lab

from .conftest import final_state, runs_of, wait_for

pytestmark = pytest.mark.usefixtures("prefect_api")

JOIN = "join-windows-node"


def tagged(vm_id: str, **labels: str) -> dict[str, str]:
    return {"prefect.resource.id": f"vm.generic.{vm_id}", "vm.id": vm_id, "vm.platform": "generic", **labels}


async def emitted(event: str, resource: dict[str, str]) -> None:
    assert emit_event(event=event, resource=resource, payload={"tags": {}}) is not None, "emit_event refused it"


async def join_runs_after(count: int, *, timeout_s: float = 60):
    return await wait_for(lambda: _more_runs(count), timeout_s=timeout_s, what="a new join flow run")


async def _more_runs(count: int):
    runs = await runs_of(JOIN)
    return runs[count:] if len(runs) > count else None


async def test_vm_tagged_events_start_policy_checked_joins(serve_process):
    async with started_lab() as (lab, names):
        node = lab.windows_host("k8s-ww")
        template = "windows-node-template"
        host_block = await __import__("prefect_windows_nodes.blocks", fromlist=["WindowsHost"]).WindowsHost.aload(
            names["k8s-ww"])
        await host_block.asave(template, overwrite=True)
        await JoinPolicy(host_blocks=[template], address_cidrs=["127.0.0.0/8"], vm_id_prefixes=["vm-"]).asave(
            "join-policy", overwrite=True)
        await serve_process("--host-template", template, "--cluster-block", names["cluster"], "--limit", "4")
        before = len(await runs_of(JOIN))

        # Another tag: no run.
        await emitted("vm.tagged", tagged("vm-7", **{"vm.tag.k8s-role": "linux-worker", "vm.address": "127.0.0.1"}))
        # The matching tag, without a hostname label: the template must still render.
        vm_id = f"vm-{uuid.uuid4().hex[:8]}"
        await emitted("vm.tagged", tagged(vm_id, **{"vm.tag.k8s-role": "windows-worker", "vm.address": "127.0.0.1"}))
        new = await join_runs_after(before)
        assert len(new) == 1, "only the windows-worker tag starts a join"
        request = new[0].parameters["request"]
        assert (request["address"], request["vm_id"], request["hostname"]) == ("127.0.0.1", vm_id, None)
        assert request["host_block"] == template and request["policy_block"] == "join-policy"
        done = await final_state(new[0].id, timeout_s=240)
        assert done.state.is_completed(), done.state
        ready = lab.kube.store.get(lab.kube.registry.get("", "nodes"), None, "k8s-ww")
        assert {c["type"]: c["status"] for c in ready["status"]["conditions"]}["Ready"] == "True"

        # Outside the policy (a VM id it does not allow): a Rejected run, an event, and no WinRM connection.
        connections = len(node.server.records.connections)
        requests = node.server.records.requests
        since = (await runs_of(JOIN))
        await emitted("vm.tagged", tagged("i-0abc", **{"vm.tag.k8s-role": "windows-worker",
                                                       "vm.address": "127.0.0.1"}))
        refused = (await join_runs_after(len(since)))[0]
        final = await final_state(refused.id, timeout_s=120)
        assert final.state.name == "Rejected" and final.state.is_failed()
        assert "VM id 'i-0abc' starts with none of vm-" in final.state.message
        assert node.server.records.requests == requests and len(node.server.records.connections) == connections

        async def rejection_event():
            async with get_client() as client:
                page = await client.read_events(filter=EventFilter(
                    event=EventNameFilter(name=["windows-node.join.rejected"]),
                    occurred=EventOccurredFilter(since=final.created)), limit=50)
            return [e for e in page.events if "i-0abc" in str(e.payload)]
        events = await wait_for(rejection_event, timeout_s=30, what="the windows-node.join.rejected event")
        assert "VM id 'i-0abc'" in events[0].payload["reasons"][0]

        # Still nothing for the other tag, long after the matching events were handled.
        assert all(r.parameters["request"]["vm_id"] != "vm-7" for r in await runs_of(JOIN))
