"""The pure Calico-for-Windows rules: which changes a given set of objects needs, and which checks fail."""

from __future__ import annotations

import copy

from prefect_windows_nodes.tasks._calico.plan import (felix_edit, installation_edit, ipam_edit, is_operator_managed_pool, plan_calico,
                               pool_edit, vxlan_checks)


def pool(name="default-ipv4-ippool", cidr="192.168.0.0/16", ipip="Always", vxlan="Never", **extra):
    spec = {"cidr": cidr, "natOutgoing": True, "blockSize": 26, "nodeSelector": "all()"}
    if ipip is not None:
        spec["ipipMode"] = ipip
    if vxlan is not None:
        spec["vxlanMode"] = vxlan
    spec.update(extra)
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": name, "resourceVersion": "1234"}, "spec": spec}


def felix(**spec):
    return {"kind": "FelixConfiguration", "metadata": {"name": "default", "resourceVersion": "77"}, "spec": spec}


def installation(*pools, bgp=None):
    net = {"ipPools": list(pools)}
    if bgp is not None:
        net["bgp"] = bgp
    return {"kind": "Installation", "metadata": {"name": "default", "resourceVersion": "5"},
            "spec": {"calicoNetwork": net}}


def test_ipip_pool_becomes_vxlan_with_runbook_wording():
    edit, check = pool_edit(pool())
    assert check.ok
    assert edit.spec == {"ipipMode": "Never", "vxlanMode": "Always"}
    assert edit.changes == ["IPPool default-ipv4-ippool: ipipMode Always → Never",
                            "IPPool default-ipv4-ippool: vxlanMode Never → Always"]
    assert edit.resource_version == "1234"


def test_pool_already_vxlan_needs_nothing_and_absent_ipip_counts_as_never():
    assert pool_edit(pool(ipip="Never", vxlan="Always"))[0] is None
    assert pool_edit(pool(ipip=None, vxlan="Always"))[0] is None
    edit, _ = pool_edit(pool(ipip=None, vxlan=None))
    assert edit.spec == {"vxlanMode": "Always"}
    assert edit.changes == ["IPPool default-ipv4-ippool: vxlanMode (unset) → Always"]


def test_ipip_crosssubnet_is_converted():
    edit, check = pool_edit(pool(ipip="CrossSubnet"))
    assert check.ok and edit.spec == {"ipipMode": "Never", "vxlanMode": "Always"}


def test_vxlan_crosssubnet_is_refused_with_pool_name_and_fix():
    edit, check = pool_edit(pool(name="edge", ipip="Never", vxlan="CrossSubnet"))
    assert edit is None
    assert not check.ok
    assert "edge" in check.name and "CrossSubnet" in check.observed
    assert "calicoctl patch ippool edge" in check.fix and "nothing was changed" in check.fix


def test_disabled_and_ipv6_pools_are_skipped():
    assert pool_edit(pool(disabled=True)) == (None, None)
    assert pool_edit(pool(name="v6", cidr="fd00::/48", ipip=None)) == (None, None)


def test_felix_flags():
    edit = felix_edit(felix(ipipEnabled=True))
    assert edit.spec == {"ipipEnabled": False, "vxlanEnabled": True}
    assert edit.changes == ["FelixConfiguration default: ipipEnabled true → false",
                            "FelixConfiguration default: vxlanEnabled (unset) → true"]
    assert felix_edit(felix(ipipEnabled=False, vxlanEnabled=True)) is None
    created = felix_edit(None)
    assert created.create and created.spec == {"ipipEnabled": False, "vxlanEnabled": True}


def test_ipam_strict_affinity_keeps_other_fields_and_creates_like_calicoctl():
    edit = ipam_edit({"metadata": {"name": "default", "resourceVersion": "9"},
                      "spec": {"strictAffinity": False, "autoAllocateBlocks": True, "maxBlocksPerHost": 4}})
    assert edit.spec == {"strictAffinity": True}  # a merge patch: other fields untouched
    assert edit.changes == ["IPAMConfig default: strictAffinity false → true"]
    assert ipam_edit({"spec": {"strictAffinity": True, "autoAllocateBlocks": True}}) is None
    created = ipam_edit(None, "IPAMConfiguration")
    assert created.create and created.kind == "IPAMConfiguration"
    assert created.spec == {"strictAffinity": True, "autoAllocateBlocks": True}


def test_installation_pools_to_vxlan_and_bgp_disabled():
    inst = installation({"cidr": "192.168.0.0/16", "encapsulation": "IPIP", "natOutgoing": "Enabled"},
                        {"cidr": "fd00::/48", "encapsulation": "None"})
    before = copy.deepcopy(inst)
    edit, checks = installation_edit(inst)
    assert inst == before  # the input is not mutated
    assert all(c.ok for c in checks)
    assert edit.spec == {"calicoNetwork": {"bgp": "Disabled", "ipPools": [
        {"cidr": "192.168.0.0/16", "encapsulation": "VXLAN", "natOutgoing": "Enabled"},
        {"cidr": "fd00::/48", "encapsulation": "None"}]}}
    assert "Installation default: calicoNetwork.ipPools[0] (192.168.0.0/16) encapsulation IPIP → VXLAN" in edit.changes
    assert "Installation default: calicoNetwork.bgp (unset) → Disabled" in edit.changes
    done = installation({"cidr": "192.168.0.0/16", "encapsulation": "VXLAN"}, bgp="Disabled")
    assert installation_edit(done)[0] is None


def test_installation_vxlan_crosssubnet_refused():
    edit, checks = installation_edit(installation({"cidr": "10.244.0.0/16", "encapsulation": "VXLANCrossSubnet"}))
    assert edit is None
    assert [c.ok for c in checks] == [False]
    assert "10.244.0.0/16" in checks[0].name and "VXLAN" in checks[0].fix


def test_vni_env_override_below_4096_fails_with_diagnosis():
    checks, facts = vxlan_checks(felix(vxlanVNI=4096), {"FELIX_VXLANVNI": "4095"}, "kube-system/calico-node")
    failed = [c for c in checks if not c.ok]
    assert [c.name for c in failed] == ["vxlan-vni"]
    assert "FELIX_VXLANVNI=4095" in failed[0].observed and "kube-system/calico-node" in failed[0].observed
    assert "kubectl -n kube-system set env daemonset/calico-node FELIX_VXLANVNI=4096" in failed[0].fix
    assert facts["vxlan_vni"] == "4095"


def test_vni_and_port_defaults_pass():
    checks, facts = vxlan_checks(felix(), {}, None)
    assert all(c.ok for c in checks)
    assert facts == {"vxlan_vni": "4096", "vxlan_port": "4789"}


def test_felix_vni_and_port_wrong():
    checks, _ = vxlan_checks(felix(vxlanVNI=1, vxlanPort=8472), {}, "kube-system/calico-node")
    assert {c.name for c in checks if not c.ok} == {"vxlan-vni", "vxlan-port"}


def test_env_override_disagreeing_with_felix_fails_and_lowercase_env_is_read():
    checks, facts = vxlan_checks(felix(vxlanVNI=4096), {"felix_vxlanvni": "5000"}, "kube-system/calico-node")
    assert [c.name for c in checks if not c.ok] == ["vxlan-vni-override"]
    assert facts["vxlan_vni"] == "5000"
    checks, _ = vxlan_checks(felix(), {"FELIX_VXLANPORT": "abc"}, "kube-system/calico-node")
    assert [c.name for c in checks if not c.ok] == ["vxlan-port"]


def test_plan_default_cluster_has_runbook_changes():
    plan = plan_calico(pools=[pool()], felix=felix(ipipEnabled=True), ipam=None, installation=None,
                       calico_node_env={}, calico_node_daemonset="kube-system/calico-node")
    assert plan.ok
    assert plan.changes == [
        "IPPool default-ipv4-ippool: ipipMode Always → Never",
        "IPPool default-ipv4-ippool: vxlanMode Never → Always",
        "FelixConfiguration default: ipipEnabled true → false",
        "FelixConfiguration default: vxlanEnabled (unset) → true",
        "IPAMConfig default: create with strictAffinity true, autoAllocateBlocks true",
    ]
    assert plan.facts["pools"] == "default-ipv4-ippool=192.168.0.0/16"


def test_plan_of_configured_cluster_is_empty():
    plan = plan_calico(pools=[pool(ipip="Never", vxlan="Always")], felix=felix(ipipEnabled=False, vxlanEnabled=True),
                       ipam={"spec": {"strictAffinity": True, "autoAllocateBlocks": True}}, installation=None,
                       calico_node_env={}, calico_node_daemonset=None)
    assert plan.ok and plan.edits == []


def test_plan_operator_never_edits_managed_pool_but_edits_unmanaged_one():
    managed = pool(name="default-ipv4-ippool")
    managed["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "tigera-operator"}
    user_pool = pool(name="extra", cidr="10.10.0.0/16")
    inst = installation({"cidr": "192.168.0.0/16", "encapsulation": "IPIP"})
    plan = plan_calico(pools=[managed, user_pool], felix=felix(), ipam=None, installation=inst,
                       calico_node_env={}, calico_node_daemonset="calico-system/calico-node")
    kinds = [(e.kind, e.name) for e in plan.edits]
    assert ("IPPool", "default-ipv4-ippool") not in kinds
    assert ("IPPool", "extra") in kinds and ("Installation", "default") in kinds
    assert plan.facts["pools_operator_managed"] == "default-ipv4-ippool"


def test_pool_matching_installation_cidr_counts_as_managed_without_label():
    inst = installation({"cidr": "192.168.0.0/16", "encapsulation": "IPIP"})
    assert is_operator_managed_pool(pool(), inst)
    assert not is_operator_managed_pool(pool(), None)


def test_plan_without_any_ipv4_pool_fails():
    plan = plan_calico(pools=[pool(cidr="fd00::/48", ipip=None)], felix=felix(), ipam=None, installation=None,
                       calico_node_env={}, calico_node_daemonset=None)
    assert [c.name for c in plan.checks if not c.ok] == ["ipv4-pool"]


def test_operator_rendered_daemonset_gets_an_operator_fix():
    checks, _ = vxlan_checks(felix(), {"FELIX_VXLANVNI": "100"}, "calico-system/calico-node")
    failed = [c for c in checks if not c.ok]
    assert failed and "Tigera operator" in failed[0].fix and "set env" not in failed[0].fix
