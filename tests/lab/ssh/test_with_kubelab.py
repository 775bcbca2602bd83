"""The control plane over SSH on the real Kubernetes lab (`KubeLab.start`): the `default` scenario (the runbook's
starting point) and the `etcd` scenario (Calico objects outside the Kubernetes API)."""

from __future__ import annotations

import ssl

import aiohttp
import asyncssh
import pytest

from lab.clock import LabClock
from lab.ssh import ControlPlaneSSH
from lab.tls import LabCA

cluster = pytest.importorskip("lab.kube.cluster", reason="the Kubernetes lab (lab/kube/cluster.py) is not there yet")

POOL = "default-ipv4-ippool"
RUNBOOK_ROW = ["default-ipv4-ippool", "192.168.0.0/16", "true", "Always", "Never", "false", "false", "all()"]


async def _start(scenario: str, tmp_path):
    ca = LabCA(tmp_path)
    kube = await cluster.KubeLab.start(scenario=scenario, state_dir=tmp_path, clock=LabClock(0.01), ca=ca)
    try:
        cp = await ControlPlaneSSH.start(kube, state_dir=tmp_path)
    except BaseException:
        await kube.stop()
        raise
    return kube, cp


@pytest.fixture
async def default_lab(tmp_path):
    kube, cp = await _start("default", tmp_path)
    yield kube, cp
    await cp.stop()
    await kube.stop()


@pytest.fixture
async def etcd_lab(tmp_path):
    kube, cp = await _start("etcd", tmp_path)
    yield kube, cp
    await cp.stop()
    await kube.stop()


def _connect(cp):
    return asyncssh.connect(cp.host, port=cp.port, username="root", client_keys=[str(cp.private_key_file)],
                            known_hosts=str(cp.known_hosts_file), agent_path=None, config=[])


async def _api_get(kube, path: str) -> int:
    ctx = ssl.create_default_context(cafile=str(kube.ca.ca_file))
    async with aiohttp.ClientSession() as http:
        async with http.get(kube.url + path, ssl=ctx,
                            headers={"Authorization": f"Bearer {kube.admin_token}"}) as resp:
            return resp.status


async def test_runbook_calico_steps_over_ssh_on_the_default_scenario(default_lab, tmp_path):
    kube, cp = default_lab
    async with _connect(cp) as conn:
        wide = await conn.run(f"calicoctl get ippool {POOL} -o wide", check=True)
        assert wide.stdout.splitlines()[1].split() == RUNBOOK_ROW
        for edit in ("s/ipipMode: Always/ipipMode: Never/", "s/vxlanMode: Never/vxlanMode: Always/"):
            r = await conn.run(f'calicoctl get ippool {POOL} -o yaml | sed -e "{edit}" | calicoctl apply -f -',
                               check=True)
            assert r.stdout == "Successfully applied 1 'IPPool' resource(s)\n"
        assert (await conn.run("calicoctl ipam configure --strictaffinity=true", check=True)).stdout == \
            "Successfully set StrictAffinity to: true\n"
        async with conn.start_sftp_client() as sftp:
            await sftp.get("/root/.kube/config", str(tmp_path / "copied-config"))
    assert (tmp_path / "copied-config").read_bytes() == kube.kubeconfig_path.read_bytes()
    rt = kube.registry.get("crd.projectcalico.org", "ippools")
    spec = kube.store.get(rt, None, POOL)["spec"]
    assert (spec["ipipMode"], spec["vxlanMode"]) == ("Never", "Always")
    ipam = kube.store.get(kube.registry.get("crd.projectcalico.org", "ipamconfigs"), None, "default")
    assert ipam["spec"]["strictAffinity"] is True


async def test_bootstrap_token_from_kubeadm_authenticates_at_the_api(default_lab):
    kube, cp = default_lab
    r = await cp.run("kubeadm token create --print-join-command")
    token = r.stdout.decode().split("--token ")[1].split()[0]
    kubeconfig = (f"apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {kube.url}\n"
                  f"users:\n- name: boot\n  user:\n    token: {token}\ncontexts:\n- name: boot\n  context:\n"
                  f"    cluster: lab\n    user: boot\ncurrent-context: boot\n")
    assert kube.authenticate_kubeconfig(kubeconfig) == f"system:bootstrap:{token.split('.')[0]}"


async def test_etcd_scenario_calicoctl_reaches_what_the_api_does_not_have(etcd_lab):
    kube, cp = etcd_lab
    assert await _api_get(kube, f"/apis/crd.projectcalico.org/v1/ippools/{POOL}") == 404
    async with _connect(cp) as conn:
        wide = await conn.run(f"calicoctl get ippool {POOL} -o wide", check=True)
        assert wide.stdout.splitlines()[1].split()[:2] == [POOL, "192.168.0.0/16"]
        r = await conn.run("""calicoctl patch felixconfiguration default -p '{"spec":{"vxlanEnabled":true}}'""",
                           check=True)
        assert r.stdout == "Successfully patched 1 'FelixConfiguration' resource\n"
    felix = kube.calico_etcd.get(kube.calico_etcd.registry.get("crd.projectcalico.org", "felixconfigurations"),
                                 None, "default")
    assert felix["spec"]["vxlanEnabled"] is True
    assert await _api_get(kube, "/apis/crd.projectcalico.org/v1/felixconfigurations/default") == 404
