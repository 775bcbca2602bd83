"""calicoctl doing what libcalico-go does: IPPool create/apply/replace turn on Felix's IPIP / VXLAN when unset
(never when set, false included; nothing turned off), a pool edited as a CRD through kubectl sets nothing; the
semantic IPPool validation with libcalico-go's messages; and an SSH connection dropped during a calicoctl call
(the fault), seen by an asyncssh client and by OpenSSH."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest
import yaml

from lab.cp_faults import ControlPlaneFaults
from lab.kube.resources import CALICO_GROUP
from lab.ssh import ControlPlaneSSH

from .conftest import POOL, sh, text
from .test_calicoctl import FLIP_IPIP, FLIP_VXLAN, crd
from .test_wire import asyncssh_options, run, ssh_argv


def felix(kube) -> dict:
    return crd(kube, "felixconfigurations", "default")["spec"]


def set_felix(kube, **spec) -> None:
    store = getattr(kube, "calico_etcd", None) or kube.store

    def put(o: dict) -> None:
        for k, v in spec.items():
            if v is None:
                o["spec"].pop(k, None)
            else:
                o["spec"][k] = v
    store.mutate(store.registry.get(CALICO_GROUP, "felixconfigurations"), None, "default", put)


async def test_switching_the_pool_to_vxlan_enables_vxlan_in_felix(fake_cp, fake_kube):
    assert "vxlanEnabled" not in felix(fake_kube)
    for line in (FLIP_IPIP, FLIP_VXLAN):
        r = await sh(fake_cp, line)
        assert r.exit_code == 0, r.stderr
    spec = felix(fake_kube)
    assert spec["vxlanEnabled"] is True
    assert spec["ipipEnabled"] is True  # nothing is turned off


async def test_an_explicit_false_is_left_alone(fake_cp, fake_kube):
    set_felix(fake_kube, vxlanEnabled=False)
    for line in (FLIP_IPIP, FLIP_VXLAN):
        assert (await sh(fake_cp, line)).exit_code == 0
    assert felix(fake_kube)["vxlanEnabled"] is False


async def test_create_enables_ipip_and_creates_felix_default_when_missing(fake_cp, fake_kube):
    store = fake_kube.store
    store.delete(store.registry.get(CALICO_GROUP, "felixconfigurations"), None, "default")
    doc = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "extra"},
           "spec": {"cidr": "10.244.0.0/16", "ipipMode": "CrossSubnet"}}
    r = await sh(fake_cp, "calicoctl create -f -", stdin=yaml.safe_dump(doc).encode())
    assert (text(r), r.exit_code) == ("Successfully created 1 'IPPool' resource(s)\n", 0)
    assert felix(fake_kube) == {"ipipEnabled": True}


async def test_a_pool_edited_through_kubectl_sets_nothing(kube, tmp_path):
    set_felix(kube, vxlanEnabled=None)
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kube.kubeconfig_path), "patch", "ippools.crd.projectcalico.org", POOL,
        "--type=merge", "-p", '{"spec":{"ipipMode":"Never","vxlanMode":"Always"}}',
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={"HOME": str(tmp_path)})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert crd(kube, "ippools", POOL)["spec"]["vxlanMode"] == "Always"
    assert "vxlanEnabled" not in felix(kube)


@pytest.mark.parametrize("change,message", [
    ({"blockSize": 19},
     "error(s) with fields:\n-  IPPool.Spec.BlockSize = '19' (IPPool BlockSize cannot be modified)\n"
     "-  IPPool.Spec.BlockSize = '19' (IPv4 block size must be between 20 and 32)"),
    ({"cidr": "10.0.0.0/8"}, "error with field IPPool.Spec.CIDR = '10.0.0.0/8' (IPPool CIDR cannot be modified)"),
    ({"ipipMode": "Always", "vxlanMode": "Always"},
     "error with field IPPool.Spec.VXLANMode = 'Always' (Cannot enable both VXLAN and IPIP on the same IPPool)"),
    ({"blockSize": 24, "cidr": "10.0.0.0/8"},
     "error(s) with fields:\n-  IPPool.Spec.CIDR = '10.0.0.0/8' (IPPool CIDR cannot be modified)\n"
     "-  IPPool.Spec.BlockSize = '24' (IPPool BlockSize cannot be modified)"),
])
async def test_semantic_validation_of_an_ippool_update(fake_cp, fake_kube, change, message):
    current = yaml.safe_load(text(await sh(fake_cp, f"calicoctl get ippool {POOL} -o yaml")))
    current["spec"].update(change)
    r = await sh(fake_cp, "calicoctl replace -f -", stdin=yaml.safe_dump(current).encode())
    assert r.exit_code == 1
    assert r.stderr.decode() == f"Failed to replace 'IPPool' resource: {message}\n"
    assert crd(fake_kube, "ippools", POOL)["spec"]["cidr"] == "192.168.0.0/16"


async def test_block_size_out_of_range_on_create(fake_cp):
    doc = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "tiny-blocks"},
           "spec": {"cidr": "10.10.0.0/16", "blockSize": 33}}
    r = await sh(fake_cp, "calicoctl create -f -", stdin=yaml.safe_dump(doc).encode())
    assert r.stderr.decode() == ("Failed to create 'IPPool' resource: [error with field IPPool.Spec.BlockSize = '33' "
                                 "(IPv4 block size must be between 20 and 32)]\n")


@pytest.fixture
async def dropping_cp(fake_kube, tmp_path):
    server = await ControlPlaneSSH.start(fake_kube, state_dir=tmp_path,
                                         faults=ControlPlaneFaults.from_dict({"calicoctl_drop": 1}))
    yield server
    await server.stop()


async def test_ssh_connection_drops_during_calicoctl(dropping_cp, fake_kube):
    doc = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": POOL},
           "spec": {"cidr": "192.168.0.0/16", "ipipMode": "Never", "natOutgoing": True}}
    async with asyncssh.connect(dropping_cp.host, **asyncssh_options(dropping_cp)) as conn:
        result = await asyncio.wait_for(conn.run("calicoctl apply -f -", input=yaml.safe_dump(doc), check=False), 30)
        assert (result.exit_status, result.stdout) == (None, "")  # no exit status, no output: the link went
    # the change was made before the connection went: a client must look before it retries
    assert crd(fake_kube, "ippools", POOL)["spec"]["ipipMode"] == "Never"
    # the fault fired once: the next call goes through, over OpenSSH too
    code, out, err = await run(ssh_argv(dropping_cp) + [f"root@{dropping_cp.host}", f"calicoctl get ippool {POOL}"])
    assert code == 0 and POOL in out.decode()


async def test_ssh_drop_with_openssh(dropping_cp):
    code, out, err = await run(ssh_argv(dropping_cp) + [f"root@{dropping_cp.host}", FLIP_IPIP])
    assert code == 255 and out == b""


def test_control_plane_fault_options():
    from lab.__main__ import parse_faults
    parsed = parse_faults(["k8s-m:calicoctl_drop=2", "k8s-m:csr_never_signed=node-csr-*"])
    faults = ControlPlaneFaults.from_dict(parsed["k8s-m"])
    assert faults.calicoctl_drop == 2 and faults.csr_never_signed == ["node-csr-*"]
    assert faults.take_calicoctl_drop() and faults.take_calicoctl_drop() and not faults.take_calicoctl_drop()
    with pytest.raises(ValueError):
        ControlPlaneFaults.from_dict({"no_such_fault": True})
