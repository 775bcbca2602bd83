"""`join_windows_node` end to end through Prefect against the lab: the issue-4 acceptance lines."""

from __future__ import annotations

import asyncio

import pytest

from prefect_windows_nodes.flows.join import JoinRequest, join_windows_node
from prefect_windows_nodes.tasks._core.results import StepFailed

from .conftest import started_lab

pytestmark = pytest.mark.usefixtures("prefect_api")

PRODUCT_UA = "OpenAPI-Generator"  # the kubernetes client's user agent: requests the product itself sent


CHECK_NAMESPACES = ("win-smoke-", "win-netpol-")  # the verification steps' own throw-away namespaces


def product_mutations(lab, *, include_checks: bool = False) -> list:
    """API writes the product sent (not the emulated kubelet's or Calico's own heartbeats); without
    `include_checks`, leaving out the smoke and policy checks' throw-away namespaces and what they held."""
    def durable(e) -> bool:
        if e.resource == "namespaces" and e.verb == "create":
            return include_checks  # the checks create theirs with generateName: the request carries no name
        ns = e.namespace or (e.name if e.resource == "namespaces" else "") or ""
        return include_checks or not ns.startswith(CHECK_NAMESPACES)
    return [e for e in lab.kube.requests.mutations() if e.user_agent.startswith(PRODUCT_UA) and durable(e)]


def request_for(names: dict, host: str = "k8s-ww", **kw) -> JoinRequest:
    kw.setdefault("smoke", False)
    kw.setdefault("netpol", False)
    return JoinRequest(host_block=host, cluster_block=names["cluster"], ssh_block=names.get("ssh"), **kw)


def node_ready(lab, name: str) -> dict | None:
    node = lab.kube.store.try_get(lab.kube.registry.get("", "nodes"), None, name)
    if node is None:
        return None
    conds = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
    return node if conds.get("Ready") == "True" else None


async def test_join_from_runbook_start_then_rerun_changes_nothing():
    async with started_lab() as (lab, names):
        first = await join_windows_node(request_for(names))
        assert first.outcome == "joined"
        node = node_ready(lab, "k8s-ww")
        assert node is not None, "Node k8s-ww is not Ready after the join"
        assert node["status"]["nodeInfo"]["osImage"] == "Windows Server 2019 Datacenter Evaluation"
        assert node["status"]["nodeInfo"]["kernelVersion"] == "10.0.17763.1999"
        host = lab.windows_host("k8s-ww")
        # The cluster runs Calico 3.22: its installer picks the backend from vxlanEnabled (calico#6996).
        assert host.host.service("CalicoConfd") is None
        state = {s.step: s for s in first.steps}
        assert state["install_calico_windows"].facts["backend"] == "vxlan"
        assert host.server.records.dropped >= 1, "the HNS network creation should have dropped WinRM once"

        lab.kube.requests.clear()
        host.records.clear()
        second = await join_windows_node(request_for(names, smoke=True, netpol=True))
        assert second.outcome == "unchanged"
        assert [(s.step, s.status) for s in second.steps][-2:] == [("workload_smoke", "unchanged"),
                                                                   ("netpol_verify", "unchanged")]
        assert [s.status for s in second.steps] == ["unchanged"] * 7
        assert product_mutations(lab) == []
        check_namespaces = [e for e in product_mutations(lab, include_checks=True)
                            if e.resource == "namespaces" and e.verb == "create"]
        assert len(check_namespaces) == 2, "smoke and netpol each ran in a namespace of their own"
        assert host.records.mutations() == []
        namespaces = lab.kube.store.list(lab.kube.registry.get("", "namespaces"))
        assert not [n for n in namespaces if n["metadata"]["name"].startswith(CHECK_NAMESPACES)]


async def test_plan_mode_reports_calico_diff_and_changes_nothing():
    async with started_lab() as (lab, names):
        lab.kube.requests.clear()
        summary = await join_windows_node(request_for(names, plan=True))
        assert summary.outcome == "planned"
        assert [s.step for s in summary.steps][:2] == ["windows_prereqs", "calico_reconfigure"]
        calico = summary.steps[1]
        assert calico.status == "planned"
        text = "\n".join(calico.changes)
        assert "ipipMode" in text and "vxlanMode" in text and "vxlanEnabled" in text and "strictAffinity" in text
        assert product_mutations(lab) == []
        assert lab.windows_host("k8s-ww").records.mutations() == []
        pool = lab.kube.store.get(lab.kube.registry.get("crd.projectcalico.org", "ippools"), None,
                                  "default-ipv4-ippool")
        assert pool["spec"]["ipipMode"] == "Always"


async def test_missing_hotfix_stops_at_prereqs_with_nothing_changed():
    async with started_lab(faults={"k8s-ww": {"missing_hotfix": True}}) as (lab, names):
        host = lab.windows_host("k8s-ww")
        host.records.clear()
        with pytest.raises(StepFailed) as err:
            await join_windows_node(request_for(names))
        assert err.value.result.step == "windows_prereqs"
        assert any("hotfix" in c.name.lower() or "KB4489899" in c.observed + c.fix
                   for c in err.value.result.failed_checks)
        assert host.records.mutations() == []


async def test_etcd_datastore_is_reconfigured_through_calicoctl_over_ssh():
    async with started_lab("etcd") as (lab, names):
        summary = await join_windows_node(request_for(names))
        calico = next(s for s in summary.steps if s.step == "calico_reconfigure")
        assert calico.facts.get("datastore") == "etcdv3"
        ran = " ".join(r.command if hasattr(r, "command") else str(r) for r in lab.ssh.records)
        assert "calicoctl" in ran
        assert node_ready(lab, "k8s-ww") is not None
        calico_writes = [e for e in product_mutations(lab) if e.group == "crd.projectcalico.org"]
        assert calico_writes == []


async def test_operator_install_is_reconfigured_through_the_installation():
    async with started_lab("operator") as (lab, names):
        summary = await join_windows_node(request_for(names))
        writes = product_mutations(lab)
        assert any(e.resource == "installations" for e in writes)
        assert not any(e.resource == "ippools" for e in writes), "an operator-managed pool was patched directly"
        inst = lab.kube.store.get(lab.kube.registry.get("operator.tigera.io", "installations"), None, "default")
        assert inst["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] == "VXLAN"
        assert summary.outcome in ("joined", "unchanged")


async def test_concurrent_joins_of_one_node_are_serialized_by_its_lock():
    async with started_lab() as (lab, names):
        first, second = await asyncio.gather(join_windows_node(request_for(names)),
                                             join_windows_node(request_for(names)))
        assert sorted([first.outcome, second.outcome]) == ["joined", "unchanged"]
        installs = [c for c in lab.windows_host("k8s-ww").records.commands
                    if c.name.lower().endswith("install-calico-windows.ps1")]
        assert len(installs) == 1
