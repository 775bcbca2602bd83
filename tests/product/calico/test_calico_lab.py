"""calico_reconfigure against the real lab, at the wire: the Kubernetes API emulator (Kubernetes datastore and
operator scenarios) and the SSH control plane with calicoctl (etcd scenario). Nothing is mocked."""

from __future__ import annotations

import pytest
from prefect.logging import disable_run_logger

from prefect_windows_nodes.tasks.calico_reconfigure import calico_reconfigure
from prefect_windows_nodes.tasks._core.results import StepFailed

from .conftest import calico_rt, cluster_block, needs_lab, read_calico, ssh_block, wait_for_calico

pytestmark = needs_lab

RUNBOOK_CHANGES = [
    "IPPool default-ipv4-ippool: ipipMode Always → Never",
    "IPPool default-ipv4-ippool: vxlanMode Never → Always",
]


async def reconfigure(lab, **kwargs):
    with disable_run_logger():
        return await calico_reconfigure.fn(cluster_block(lab), **kwargs)


def calico_mutations(lab):
    return [(e.verb, e.group, e.resource, e.name) for e in lab.kube.requests.mutations()]


async def test_default_scenario_gets_vxlan_and_second_run_changes_nothing(lab_factory):
    async with lab_factory("default") as lab:
        result = await reconfigure(lab)
        assert result.status == "changed"
        assert result.changes[:2] == RUNBOOK_CHANGES
        assert "FelixConfiguration default: vxlanEnabled (unset) → true" in result.changes or any(
            "vxlanEnabled" in c for c in result.changes)
        assert result.facts["datastore"] == "kubernetes"
        assert result.facts["calico_api_group"] == "crd.projectcalico.org"
        assert result.facts["operator_managed"] == "false"
        assert result.facts["via"] == "kubernetes-api"
        assert result.facts["vxlan_vni"] == "4096" and result.facts["vxlan_port"] == "4789"
        assert result.facts["calico_version"].startswith("3.")

        pool = read_calico(lab, "ippools", "default-ipv4-ippool")["spec"]
        assert (pool["ipipMode"], pool["vxlanMode"]) == ("Never", "Always")
        felix = read_calico(lab, "felixconfigurations", "default")["spec"]
        assert felix["ipipEnabled"] is False and felix["vxlanEnabled"] is True
        ipam = read_calico(lab, "ipamconfigs", "default")["spec"]
        assert ipam["strictAffinity"] is True and ipam["autoAllocateBlocks"] is True
        # Only the three Calico objects were written, each with a merge patch or a create.
        assert {m[2] for m in calico_mutations(lab)} <= {"ippools", "felixconfigurations", "ipamconfigs"}
        assert all(e.patch_type in (None, "application/merge-patch+json") for e in lab.kube.requests.mutations())

        lab.kube.requests.clear()
        again = await reconfigure(lab)
        assert again.status == "unchanged" and again.changes == []
        assert lab.kube.requests.mutations() == []


async def test_plan_mode_reports_the_diff_and_changes_nothing(lab_factory):
    async with lab_factory("default") as lab:
        before = read_calico(lab, "ippools", "default-ipv4-ippool")
        result = await reconfigure(lab, plan=True)
        assert result.status == "planned"
        assert result.changes[:2] == RUNBOOK_CHANGES
        assert any(c.startswith("IPAMConfig default:") for c in result.changes)
        assert lab.kube.requests.mutations() == []
        assert read_calico(lab, "ippools", "default-ipv4-ippool") == before


async def test_other_ipam_fields_are_kept(lab_factory):
    async with lab_factory("default") as lab:
        rt = calico_rt(lab, "ipamconfigs")
        store = lab.kube.store
        if store.try_get(rt, None, "default") is None:
            store.create(rt, {"metadata": {"name": "default"},
                              "spec": {"strictAffinity": False, "autoAllocateBlocks": True, "maxBlocksPerHost": 4}})
        else:
            store.mutate(rt, None, "default", lambda o: o["spec"].update(strictAffinity=False, maxBlocksPerHost=4))
        result = await reconfigure(lab)
        assert "IPAMConfig default: strictAffinity false → true" in result.changes
        spec = read_calico(lab, "ipamconfigs", "default")["spec"]
        assert spec == {"strictAffinity": True, "autoAllocateBlocks": True, "maxBlocksPerHost": 4}


async def test_conflict_is_reread_and_retried(lab_factory):
    from lab.kube.errors import Conflict

    async with lab_factory("default") as lab:
        rt = calico_rt(lab, "ippools")
        refused = []

        def conflict_once(operation, new, old):
            if operation == "UPDATE" and not refused:
                refused.append(new["metadata"]["name"])
                raise Conflict(f'Operation cannot be fulfilled on ippools.crd.projectcalico.org '
                               f'"{new["metadata"]["name"]}": the object has been modified; please apply your '
                               f'changes to the latest version and try again')
            return new

        lab.kube.store.add_admission(conflict_once, rt)
        result = await reconfigure(lab)
        assert refused == ["default-ipv4-ippool"]
        assert result.changes[:2] == RUNBOOK_CHANGES
        assert lab.kube.requests.count(verb="patch", resource="ippools") == 2
        assert lab.kube.requests.count(verb="get", resource="ippools", name="default-ipv4-ippool") >= 1
        pool = read_calico(lab, "ippools", "default-ipv4-ippool")["spec"]
        assert (pool["ipipMode"], pool["vxlanMode"]) == ("Never", "Always")


async def test_crosssubnet_pool_is_refused_and_nothing_changes(lab_factory):
    async with lab_factory("default") as lab:
        rt = calico_rt(lab, "ippools")
        lab.kube.store.mutate(rt, None, "default-ipv4-ippool",
                              lambda o: o["spec"].update(ipipMode="Never", vxlanMode="CrossSubnet"))
        lab.kube.requests.clear()
        with pytest.raises(StepFailed) as info:
            await reconfigure(lab)
        failed = info.value.result.failed_checks
        assert [c.name for c in failed] == ["ippool default-ipv4-ippool"]
        assert "CrossSubnet" in failed[0].observed and "calicoctl patch ippool default-ipv4-ippool" in failed[0].fix
        assert info.value.result.status == "failed"
        assert lab.kube.requests.mutations() == []


async def test_vni_env_override_below_4096_fails_with_diagnosis(lab_factory):
    async with lab_factory("default") as lab:
        ds_rt = lab.kube.registry.get("apps", "daemonsets")

        def add_env(ds):
            for c in ds["spec"]["template"]["spec"]["containers"]:
                if c["name"] == "calico-node":
                    c.setdefault("env", []).append({"name": "FELIX_VXLANVNI", "value": "4095"})

        lab.kube.store.mutate(ds_rt, "kube-system", "calico-node", add_env)
        lab.kube.requests.clear()
        with pytest.raises(StepFailed) as info:
            await reconfigure(lab)
        failed = info.value.result.failed_checks
        assert [c.name for c in failed] == ["vxlan-vni"]
        assert "FELIX_VXLANVNI=4095" in failed[0].observed
        assert "DaemonSet kube-system/calico-node" in failed[0].observed
        assert "FELIX_VXLANVNI=4096" in failed[0].fix
        assert "Windows does not support VXLANVNI < 4096" in failed[0].expected
        assert lab.kube.requests.mutations() == []


async def test_etcd_scenario_goes_through_calicoctl_over_ssh(lab_factory):
    async with lab_factory("etcd", ssh=True) as lab:
        ssh = ssh_block(lab)
        lab.kube.requests.clear()
        with disable_run_logger():
            result = await calico_reconfigure.fn(cluster_block(lab), ssh)
        assert result.status == "changed"
        assert result.facts["datastore"] == "etcdv3" and result.facts["via"] == "calicoctl-ssh"
        assert result.changes[:2] == RUNBOOK_CHANGES
        assert lab.kube.requests.mutations() == []  # the Kubernetes API is not written
        pool = read_calico(lab, "ippools", "default-ipv4-ippool", etcd=True)["spec"]
        assert (pool["ipipMode"], pool["vxlanMode"]) == ("Never", "Always")
        felix = read_calico(lab, "felixconfigurations", "default", etcd=True)["spec"]
        assert felix["ipipEnabled"] is False and felix["vxlanEnabled"] is True
        assert read_calico(lab, "ipamconfigs", "default", etcd=True)["spec"]["strictAffinity"] is True
        commands = [r.command for r in lab.ssh.records]
        assert "calicoctl get ippool -o yaml" in commands
        assert "calicoctl apply -f -" in commands
        assert "calicoctl ipam configure --strictaffinity=true" in commands
        assert any(c.startswith("calicoctl patch felixconfiguration default -p ") or
                   c == "calicoctl create -f -" for c in commands)

        changed_before = sum(r.changed for r in lab.ssh.records)
        with disable_run_logger():
            again = await calico_reconfigure.fn(cluster_block(lab), ssh)
        assert again.status == "unchanged"
        assert sum(r.changed for r in lab.ssh.records) == changed_before
        assert lab.kube.requests.mutations() == []


async def test_etcd_scenario_without_ssh_says_what_is_missing(lab_factory):
    async with lab_factory("etcd") as lab:
        with pytest.raises(StepFailed) as info:
            await reconfigure(lab)
        assert [c.name for c in info.value.result.failed_checks] == ["control-plane-ssh"]
        assert "ControlPlaneSSH" in info.value.result.failed_checks[0].fix


async def test_operator_scenario_goes_through_the_installation(lab_factory):
    async with lab_factory("operator") as lab:
        result = await reconfigure(lab)
        assert result.facts["operator_managed"] == "true"
        assert any(c.startswith("Installation default: calicoNetwork.ipPools[0]") and c.endswith("→ VXLAN")
                   for c in result.changes)
        assert any(c.startswith("Installation default: calicoNetwork.bgp") for c in result.changes)
        patched = {(e.group, e.resource) for e in lab.kube.requests.mutations()}
        assert ("operator.tigera.io", "installations") in patched
        assert ("crd.projectcalico.org", "ippools") not in patched  # the managed pool is never patched directly
        inst = lab.kube.store.get(lab.kube.registry.get("operator.tigera.io", "installations"), None, "default")
        net = inst["spec"]["calicoNetwork"]
        assert net["bgp"] == "Disabled"
        assert all(p["encapsulation"] == "VXLAN" for p in net["ipPools"] if ":" not in p["cidr"])
        # The operator (lab controller) re-renders its managed pool from the Installation.
        pool = await wait_for_calico(lab, "ippools", "default-ipv4-ippool",
                                     lambda o: o["spec"].get("vxlanMode") == "Always")
        assert pool["spec"]["ipipMode"] == "Never"

        lab.kube.requests.clear()
        again = await reconfigure(lab)
        assert again.status == "unchanged" and lab.kube.requests.mutations() == []


async def test_newer_kubernetes_scenario(lab_factory):
    async with lab_factory("k8s-1.30") as lab:
        result = await reconfigure(lab)
        assert result.status in ("changed", "unchanged")
        lab.kube.requests.clear()
        assert (await reconfigure(lab)).status == "unchanged"
        assert lab.kube.requests.mutations() == []


async def test_plan_mode_with_a_refused_pool_still_lists_the_other_changes(lab_factory):
    async with lab_factory("default") as lab:
        rt = calico_rt(lab, "ippools")
        lab.kube.store.mutate(rt, None, "default-ipv4-ippool", lambda o: o["spec"].update(vxlanMode="CrossSubnet"))
        lab.kube.requests.clear()
        with pytest.raises(StepFailed) as info:
            await reconfigure(lab, plan=True)
        result = info.value.result
        assert result.status == "failed"
        assert "FelixConfiguration default: ipipEnabled true → false" in result.changes
        assert not any(c.startswith("IPPool") for c in result.changes)
        assert lab.kube.requests.mutations() == []
