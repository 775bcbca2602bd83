"""calicoctl on k8s-m acting on the lab's Calico objects, with calicoctl's own output (run in-process, as an exec
request runs it)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lab.kube.resources import CALICO_GROUP

from .conftest import POOL, sh, text

WIDE_HEADER = ("NAME                  CIDR             NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   "
               "SELECTOR   ")
RUNBOOK_ROW = ["default-ipv4-ippool", "192.168.0.0/16", "true", "Always", "Never", "false", "false", "all()"]
FLIP_IPIP = f'calicoctl get ippool {POOL} -o yaml | sed -e "s/ipipMode: Always/ipipMode: Never/" | calicoctl apply -f -'
FLIP_VXLAN = f'calicoctl get ippool {POOL} -o yaml | sed -e "s/vxlanMode: Never/vxlanMode: Always/" | calicoctl apply -f -'


def crd(kube, plural: str, name: str):
    store = getattr(kube, "calico_etcd", None) or kube.store
    return store.try_get(store.registry.get(CALICO_GROUP, plural), None, name)


async def test_get_ippool_wide_prints_the_runbook_row_with_tabwriter_spacing(cp):
    r = await sh(cp, f"calicoctl get ippool {POOL} -o wide")
    assert r.exit_code == 0, r.stderr
    assert text(r) == (WIDE_HEADER + "\n"
                       "default-ipv4-ippool   192.168.0.0/16   true   Always     Never       false      false"
                       "              all()      \n\n")
    assert text(r).splitlines()[1].split() == RUNBOOK_ROW


async def test_default_output_is_the_narrow_table(fake_cp):
    r = await sh(fake_cp, "calicoctl get ippools")
    assert text(r).splitlines()[:2] == ["NAME                  CIDR             SELECTOR   ",
                                        "default-ipv4-ippool   192.168.0.0/16   all()      "]


async def test_runbook_sed_pipelines_switch_the_pool_to_vxlan(cp, kube):
    first = await sh(cp, FLIP_IPIP)
    assert (text(first), first.exit_code) == ("Successfully applied 1 'IPPool' resource(s)\n", 0)
    second = await sh(cp, FLIP_VXLAN)
    assert (text(second), second.exit_code) == ("Successfully applied 1 'IPPool' resource(s)\n", 0)
    spec = crd(kube, "ippools", POOL)["spec"]
    assert (spec["ipipMode"], spec["vxlanMode"], spec["cidr"], spec["natOutgoing"]) == (
        "Never", "Always", "192.168.0.0/16", True)
    row = text(await sh(cp, f"calicoctl get ippool {POOL} -o wide")).splitlines()[1].split()
    assert row[3:5] == ["Never", "Always"]
    assert [rec.changed for rec in cp.records[-3:]] == [True, True, False]


async def test_reapplying_the_same_yaml_changes_nothing(cp, kube):
    before = crd(kube, "ippools", POOL)["metadata"]["resourceVersion"]
    r = await sh(cp, f"calicoctl get ippool {POOL} -o yaml | calicoctl apply -f -")
    assert text(r) == "Successfully applied 1 'IPPool' resource(s)\n"
    assert crd(kube, "ippools", POOL)["metadata"]["resourceVersion"] == before
    assert cp.records[-1].changed is False


async def test_apply_with_a_stale_resource_version_is_an_update_conflict(fake_cp):
    stale = (await sh(fake_cp, f"calicoctl get ippool {POOL} -o yaml")).stdout
    await sh(fake_cp, FLIP_IPIP)
    r = await sh(fake_cp, "calicoctl apply -f -", stdin=stale.replace(b"natOutgoing: true", b"natOutgoing: false"))
    assert r.exit_code == 1
    assert r.stderr.decode() == f"Failed to apply 'IPPool' resource: [update conflict: IPPool({POOL})]\n"


async def test_vxlan_while_ipip_is_on_fails_validation_and_changes_nothing(fake_cp, fake_kube):
    r = await sh(fake_cp, FLIP_VXLAN)
    assert r.exit_code == 1
    assert ("error with field IPPool.Spec.VXLANMode = 'Always' (Cannot enable both VXLAN and IPIP on the same "
            "IPPool)") in r.stderr.decode()
    assert crd(fake_kube, "ippools", POOL)["spec"]["vxlanMode"] == "Never"


async def test_apply_rejects_unknown_fields_as_calicoctl_does(fake_cp):
    doc = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "extra"},
           "spec": {"cidr": "10.10.0.0/16", "vxlanmode": "Always"}}
    r = await sh(fake_cp, "calicoctl apply -f -", stdin=yaml.safe_dump(doc).encode())
    assert (r.stderr, r.exit_code) == (b"field in document is not recognized or is in the wrong location: "
                                       b"vxlanmode\n", 1)


async def test_apply_creates_a_new_pool_with_clientv3_defaults(fake_cp, fake_kube):
    doc = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "win-pool"},
           "spec": {"cidr": "10.244.0.0/16", "vxlanMode": "Always", "natOutgoing": True}}
    fake_cp.fs.write_bytes("/root/win-pool.yaml", yaml.safe_dump(doc).encode())
    r = await sh(fake_cp, "calicoctl apply -f win-pool.yaml")
    assert text(r) == "Successfully applied 1 'IPPool' resource(s)\n"
    stored = crd(fake_kube, "ippools", "win-pool")
    assert stored["apiVersion"] == f"{CALICO_GROUP}/v1"
    assert stored["spec"] == {"cidr": "10.244.0.0/16", "vxlanMode": "Always", "natOutgoing": True,
                              "ipipMode": "Never", "blockSize": 26, "nodeSelector": "all()"}


async def test_yaml_output_is_a_v3_object_that_reads_back(fake_cp, fake_kube):
    r = await sh(fake_cp, f"calicoctl get ippool {POOL} -o yaml")
    doc = yaml.safe_load(r.stdout)
    stored = crd(fake_kube, "ippools", POOL)
    assert doc["apiVersion"] == "projectcalico.org/v3" and doc["kind"] == "IPPool"
    assert doc["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    assert doc["spec"] == stored["spec"]
    # yaml.v2 style: keys sorted, numeric-looking strings double-quoted.
    assert text(r).startswith("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  creationTimestamp: \"")
    assert f'  resourceVersion: "{stored["metadata"]["resourceVersion"]}"\n' in text(r)


async def test_list_yaml_and_json_have_calicoctl_shapes(fake_cp):
    listed = yaml.safe_load((await sh(fake_cp, "calicoctl get ippool -o yaml")).stdout)
    assert listed["kind"] == "IPPoolList" and [i["metadata"]["name"] for i in listed["items"]] == [POOL]
    one = (await sh(fake_cp, f"calicoctl get ippool {POOL} -o json")).stdout.decode()
    assert list(json.loads(one)) == ["kind", "apiVersion", "metadata", "spec"]
    assert list(json.loads(one)["spec"])[:3] == ["cidr", "vxlanMode", "ipipMode"]


async def test_errors_go_to_stderr_with_exit_code_1(fake_cp):
    missing = await sh(fake_cp, "calicoctl get ippool nope -o yaml")
    assert missing.exit_code == 1
    assert missing.stderr == (b'resource does not exist: IPPool(nope) with error: ippools.crd.projectcalico.org '
                              b'"nope" not found\n')
    kind = await sh(fake_cp, "calicoctl get frobs")
    assert (kind.stderr, kind.exit_code) == (b"Failed to get resources: resource type 'frobs' is not supported\n", 1)
    bad = await sh(fake_cp, "calicoctl get ippool --bogus")
    assert bad.stderr.startswith(b"Invalid option: 'calicoctl get ippool --bogus'.")


async def test_patch_felixconfiguration_keeps_other_fields(fake_cp, fake_kube):
    r = await sh(fake_cp, """calicoctl patch felixconfiguration default -p '{"spec":{"ipipEnabled":false,"vxlanEnabled":true}}'""")
    assert (text(r), r.exit_code) == ("Successfully patched 1 'FelixConfiguration' resource\n", 0)
    spec = crd(fake_kube, "felixconfigurations", "default")["spec"]
    assert spec == {"bpfLogLevel": "", "ipipEnabled": False, "logSeverityScreen": "Info", "reportingInterval": "0s",
                    "vxlanEnabled": True}
    shown = yaml.safe_load((await sh(fake_cp, "calicoctl get felixconfiguration default -o yaml")).stdout)
    assert shown["spec"]["vxlanEnabled"] is True and shown["kind"] == "FelixConfiguration"


async def test_patch_of_a_missing_object_reports_it(fake_cp):
    r = await sh(fake_cp, """calicoctl patch felixconfiguration node.k8s-ww -p '{"spec":{"vxlanEnabled":true}}'""")
    assert r.exit_code == 1
    assert r.stderr.decode().startswith("Hit error: resource does not exist: FelixConfiguration(node.k8s-ww)")


async def test_strictaffinity_creates_the_ipam_config_when_absent(cp, kube):
    assert crd(kube, "ipamconfigs", "default") is None
    r = await sh(cp, "calicoctl ipam configure --strictaffinity=true")
    assert (text(r), r.exit_code) == ("Successfully set StrictAffinity to: true\n", 0)
    stored = crd(kube, "ipamconfigs", "default")
    assert stored["kind"] == "IPAMConfig"
    assert stored["spec"] == {"strictAffinity": True, "autoAllocateBlocks": True}
    shown = yaml.safe_load((await sh(cp, "calicoctl get ipamconfig default -o yaml")).stdout)
    assert shown["kind"] == "IPAMConfiguration" and shown["spec"]["strictAffinity"] is True


async def test_strictaffinity_keeps_the_other_ipam_fields(fake_cp, fake_kube):
    store = fake_kube.store
    store.create(store.registry.get(CALICO_GROUP, "ipamconfigs"),
                 {"metadata": {"name": "default"},
                  "spec": {"strictAffinity": False, "autoAllocateBlocks": False, "maxBlocksPerHost": 4}})
    await sh(fake_cp, "calicoctl ipam configure --strictaffinity=true")
    assert crd(fake_kube, "ipamconfigs", "default")["spec"] == {
        "strictAffinity": True, "autoAllocateBlocks": False, "maxBlocksPerHost": 4}
    table = text(await sh(fake_cp, "calicoctl ipam show --show-configuration"))
    assert "| StrictAffinity     | true  |" in table and "| MaxBlocksPerHost   |     4 |" in table


async def test_strictaffinity_rejects_a_non_boolean(fake_cp):
    r = await sh(fake_cp, "calicoctl ipam configure --strictaffinity=yes")
    assert (r.stderr, r.exit_code) == (b"invalid value. Use true or false to set strictaffinity\n", 1)


async def test_ipam_show_counts_pod_ips_in_each_pool(fake_cp, fake_kube):
    fake_kube.add_pod("nginx-1", "192.168.10.5")
    fake_kube.add_pod("nginx-2", "192.168.10.6")
    fake_kube.add_pod("kube-proxy", "172.16.3.171", host_network=True)
    assert text(await sh(fake_cp, "calicoctl ipam show")) == (
        "+----------+----------------+-----------+------------+--------------+\n"
        "| GROUPING |      CIDR      | IPS TOTAL | IPS IN USE |   IPS FREE   |\n"
        "+----------+----------------+-----------+------------+--------------+\n"
        "| IP Pool  | 192.168.0.0/16 |     65536 | 2 (0%)     | 65534 (100%) |\n"
        "+----------+----------------+-----------+------------+--------------+\n")


async def test_ipam_show_uses_calico_blocks_when_present(fake_cp, fake_kube):
    store = fake_kube.store
    store.create(store.registry.get(CALICO_GROUP, "ipamblocks"),
                 {"metadata": {"name": "192-168-11-128-26"},
                  "spec": {"cidr": "192.168.11.128/26", "affinity": "host:k8s-lw",
                           "allocations": [0, None, 1, 2] + [None] * 60}})
    out = text(await sh(fake_cp, "calicoctl ipam show --show-blocks"))
    assert "| IP Pool  | 192.168.0.0/16    |     65536 | 3 (0%)     | 65533 (100%) |" in out
    assert "| Block    | 192.168.11.128/26 |        64 | 3 (5%)     | 61 (95%)     |" in out


async def test_version_reports_client_and_cluster(cp):
    r = await sh(cp, "calicoctl version")
    assert text(r) == ("Client Version:    v3.22.1\nGit commit:        82b6f5d5e\nCluster Version:   v3.22.1\n"
                       "Cluster Type:      k8s,bgp,kubeadm,kdd\n")


async def test_kubeadm_token_create_stores_a_real_bootstrap_token(cp, kube):
    r = await sh(cp, "kubeadm token create --print-join-command")
    m = re.fullmatch(r"kubeadm join 172\.16\.3\.170:6443 --token ([a-z0-9]{6})\.([a-z0-9]{16}) "
                     r"--discovery-token-ca-cert-hash sha256:([0-9a-f]{64}) \n", text(r))
    assert m, text(r)
    token_id, token_secret, ca_hash = m.groups()
    secret = kube.store.get(kube.registry.get("", "secrets"), "kube-system", f"bootstrap-token-{token_id}")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert data["token-secret"] == token_secret
    assert data["usage-bootstrap-authentication"] == data["usage-bootstrap-signing"] == "true"
    assert data["auth-extra-groups"] == "system:bootstrappers:kubeadm:default-node-token"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["expiration"])
    spki = x509.load_pem_x509_certificate(kube.ca.ca_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ca_hash == hashlib.sha256(spki).hexdigest()
    assert cp.records[-1].changed is True
    # The API server authenticates the token as kubeadm's bootstrap identity.
    kubeconfig = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "boot",
        "clusters": [{"name": "lab", "cluster": {"server": kube.url}}],
        "users": [{"name": "boot", "user": {"token": f"{token_id}.{token_secret}"}}],
        "contexts": [{"name": "boot", "context": {"cluster": "lab", "user": "boot"}}]})
    assert kube.authenticate_kubeconfig(kubeconfig) == f"system:bootstrap:{token_id}"


async def test_kubeconfig_is_readable_where_kubeadm_puts_it(cp, kube):
    expected = kube.kubeconfig_path.read_bytes()
    for path in ("~/.kube/config", "/root/.kube/config", "/etc/kubernetes/admin.conf"):
        r = await sh(cp, f"cat {path}")
        assert (r.stdout, r.exit_code) == (expected, 0), path
    missing = await sh(cp, "cat /etc/kubernetes/nope.conf")
    assert (missing.stderr, missing.exit_code) == (b"cat: /etc/kubernetes/nope.conf: No such file or directory\n", 1)


async def _api_status(kube, path: str) -> int:
    ctx = ssl.create_default_context(cafile=str(kube.ca.ca_file))
    async with aiohttp.ClientSession() as http:
        async with http.get(kube.url + path, ssl=ctx, headers={"Authorization": f"Bearer {kube.admin_token}"}) as r:
            return r.status


async def test_etcd_datastore_is_reached_only_through_calicoctl(etcd_cp, etcd_kube):
    # The Kubernetes API has no Calico objects (no CRDs) in the etcd scenario.
    assert await _api_status(etcd_kube, f"/apis/{CALICO_GROUP}/v1/ippools/{POOL}") == 404
    row = text(await sh(etcd_cp, f"calicoctl get ippool {POOL} -o wide")).splitlines()[1].split()
    assert row == RUNBOOK_ROW
    assert (await sh(etcd_cp, FLIP_IPIP)).exit_code == 0
    assert (await sh(etcd_cp, FLIP_VXLAN)).exit_code == 0
    patch = await sh(etcd_cp, """calicoctl patch felixconfiguration default -p '{"spec":{"vxlanEnabled":true}}'""")
    assert patch.exit_code == 0
    assert (await sh(etcd_cp, "calicoctl ipam configure --strictaffinity=true")).exit_code == 0
    assert crd(etcd_kube, "ippools", POOL)["spec"]["vxlanMode"] == "Always"
    assert crd(etcd_kube, "felixconfigurations", "default")["spec"]["vxlanEnabled"] is True
    assert crd(etcd_kube, "ipamconfigs", "default")["spec"]["strictAffinity"] is True
    missing = await sh(etcd_cp, "calicoctl get ippool nope")
    assert missing.stderr == b"resource does not exist: IPPool(nope) with error: <nil>\n"
    assert await _api_status(etcd_kube, f"/apis/{CALICO_GROUP}/v1/felixconfigurations/default") == 404


async def test_native_v3_crds_are_used_when_the_crd_group_is_absent(tmp_path):
    from lab.kube.resources import BUILTIN, Registry, ResourceType
    from lab.kube.store import Store
    from lab.ssh import ControlPlaneSSH

    from .conftest import FakeKube

    kube = FakeKube(tmp_path)
    v3 = [ResourceType("projectcalico.org", "v3", "ippools", "IPPool", False),
          ResourceType("projectcalico.org", "v3", "ipamconfigurations", "IPAMConfiguration", False)]
    kube.registry = Registry(BUILTIN + tuple(v3))
    kube.store = Store(kube.registry)
    kube.store.create(v3[0], {"metadata": {"name": POOL}, "spec": {"cidr": "192.168.0.0/16", "ipipMode": "Always",
                                                                   "vxlanMode": "Never", "natOutgoing": True}})
    cp = await ControlPlaneSSH.start(kube, state_dir=tmp_path)
    try:
        assert (await sh(cp, FLIP_IPIP)).exit_code == 0
        assert (await sh(cp, "calicoctl ipam configure --strictaffinity=true")).exit_code == 0
        missing = await sh(cp, "calicoctl get ippool nope")
    finally:
        await cp.stop()
    assert kube.store.get(v3[0], None, POOL)["spec"]["ipipMode"] == "Never"
    ipam = kube.store.get(v3[1], None, "default")
    assert (ipam["apiVersion"], ipam["kind"], ipam["spec"]["strictAffinity"]) == (
        "projectcalico.org/v3", "IPAMConfiguration", True)
    assert missing.stderr == b'resource does not exist: IPPool(nope) with error: ippools.projectcalico.org "nope" ' \
                             b'not found\n'
