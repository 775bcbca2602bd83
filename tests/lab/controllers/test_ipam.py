"""Calico IPAM: per-node blocks recorded as BlockAffinity + IPAMBlock, borrowing with strict affinity off,
refusal with it on, Windows nodes needing strict affinity (the real CNI message), reserved addresses in
Windows blocks, release on pod deletion, and the etcd datastore."""

from __future__ import annotations

import ipaddress

from .conftest import add_windows_node, events_for, pod_obj, pods_of, rt, set_strict_affinity, settle

CALICO = "crd.projectcalico.org"
MASTER = {"nodeSelector": {"kubernetes.io/hostname": "k8s-m"},
          "tolerations": [{"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}]}


def _pod(kube, name: str, **spec) -> dict:
    return kube.store.create(rt(kube, "", "pods"), pod_obj(name, "nicolaka/netshoot", **spec), "default")


def _get(kube, name: str) -> dict:
    return kube.store.get(rt(kube, "", "pods"), "default", name)


def _small_pool_only(kube) -> None:
    """Disable the default pool and offer one /26 pool: room for exactly one block."""
    pools = rt(kube, CALICO, "ippools")
    kube.store.mutate(pools, None, "default-ipv4-ippool", lambda p: p["spec"].update(disabled=True))
    kube.store.create(pools, {"metadata": {"name": "small"}, "spec": {
        "cidr": "10.244.0.0/26", "blockSize": 26, "ipipMode": "Always", "vxlanMode": "Never", "natOutgoing": True,
        "nodeSelector": "all()"}})


async def test_blocks_and_affinities_per_node(lab):
    async with lab() as kube:
        affinities = {a["spec"]["node"]: a for a in kube.store.list(rt(kube, CALICO, "blockaffinities"))}
        assert set(affinities) == {"k8s-m", "k8s-lw"}
        for node, aff in affinities.items():
            assert aff["spec"]["state"] == "confirmed" and aff["spec"]["deleted"] == "false"
            assert aff["metadata"]["name"] == f"{node}-{aff['spec']['cidr'].replace('.', '-').replace('/', '-')}"
        _pod(kube, "a")
        await settle(kube)
        ip = ipaddress.ip_address(_get(kube, "a")["status"]["podIP"])
        assert ip in ipaddress.ip_network(affinities["k8s-lw"]["spec"]["cidr"])
        block = kube.store.get(rt(kube, CALICO, "ipamblocks"), None,
                               affinities["k8s-lw"]["spec"]["cidr"].replace(".", "-").replace("/", "-"))
        handles = [a["handle_id"] for a in block["spec"]["attributes"]]
        assert "ipip-tunnel-addr-k8s-lw" in handles and any(h.startswith("k8s-pod-network.") for h in handles)
        kube.store.delete(rt(kube, "", "pods"), "default", "a")
        await settle(kube)
        assert str(ip) not in {a for a, _, _ in kube.controllers.ipam.allocations()}


async def test_borrowing_when_strict_affinity_is_off_refusal_when_on(lab):
    async with lab() as kube:
        _small_pool_only(kube)
        _pod(kube, "owner")
        await settle(kube)
        owner_ip = ipaddress.ip_address(_get(kube, "owner")["status"]["podIP"])
        assert owner_ip in ipaddress.ip_network("10.244.0.0/26")
        small_affs = [a for a in kube.store.list(rt(kube, CALICO, "blockaffinities"))
                      if a["spec"]["cidr"] == "10.244.0.0/26"]
        assert [a["spec"]["node"] for a in small_affs] == ["k8s-lw"]

        _pod(kube, "borrower", **MASTER)  # k8s-m has no block left to claim: it borrows k8s-lw's
        await settle(kube)
        borrowed = _get(kube, "borrower")
        assert borrowed["spec"]["nodeName"] == "k8s-m" and borrowed["status"]["phase"] == "Running"
        assert ipaddress.ip_address(borrowed["status"]["podIP"]) in ipaddress.ip_network("10.244.0.0/26")

        set_strict_affinity(kube, True)
        _pod(kube, "refused", **MASTER)
        await settle(kube)
        refused = _get(kube, "refused")
        assert "podIP" not in refused["status"]
        assert refused["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
        sandbox = [e for e in events_for(kube, refused) if e["reason"] == "FailedCreatePodSandBox"]
        assert sandbox and sandbox[0]["type"] == "Warning"
        assert sandbox[0]["message"].endswith("failed to request 1 IPv4 addresses. IPAM allocated only 0")
        assert 'networkPlugin cni failed to set up pod "refused_default" network' in sandbox[0]["message"]


async def test_windows_nodes_need_strict_affinity(lab):
    async with lab() as kube:
        add_windows_node(kube)
        _pod(kube, "win", nodeSelector={"kubernetes.io/os": "windows"})
        await settle(kube)
        pod = _get(kube, "win")
        assert pod["spec"]["nodeName"] == "k8s-ww" and "podIP" not in pod["status"]
        msgs = [e["message"] for e in events_for(kube, pod) if e["reason"] == "FailedCreatePodSandBox"]
        assert msgs and msgs[0].endswith("global strict affinity should not be false for Windows node")

        set_strict_affinity(kube, True)  # the IPAMConfig change makes kubelet retry at once
        await settle(kube)
        pod = _get(kube, "win")
        assert pod["status"]["phase"] == "Running"
        aff = next(a for a in kube.store.list(rt(kube, CALICO, "blockaffinities")) if a["spec"]["node"] == "k8s-ww")
        net = ipaddress.ip_network(aff["spec"]["cidr"])
        assert ipaddress.ip_address(pod["status"]["podIP"]) == net.network_address + 3  # first 3 are reserved
        reserved = [ip for ip, handle, _ in kube.controllers.ipam.allocations()
                    if handle == "windows-reserved-ipam-handle"]
        assert sorted(reserved) == sorted(str(net.network_address + i) for i in (0, 1, 2, net.num_addresses - 1))


async def test_etcd_datastore_keeps_calico_out_of_the_api(lab):
    async with lab("etcd") as kube:
        assert kube.registry.get(CALICO, "ippools") is None
        etcd = kube.calico_etcd
        pools = etcd.list(etcd.registry.get(CALICO, "ippools"))
        assert [(p["metadata"]["name"], p["spec"]["ipipMode"]) for p in pools] == [("default-ipv4-ippool", "Always")]
        _pod(kube, "a")
        await settle(kube)
        ip = _get(kube, "a")["status"]["podIP"]
        assert ip in {a for a, _, _ in kube.controllers.ipam.allocations()}
        assert {a["spec"]["node"] for a in etcd.list(etcd.registry.get(CALICO, "blockaffinities"))} == \
            {"k8s-m", "k8s-lw"}
        assert pods_of(kube, "kube-system", **{"k8s-app": "calico-node"})[0]["status"]["phase"] == "Running"
