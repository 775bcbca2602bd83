"""A kubelet's credential as kubeadm's Node authorizer and NodeRestriction admission limit it, and CSRs as the
1.22 API validates them and the kubelet client signer signs (or fails) them — through `kubernetes.aio` and kubectl
with a node client certificate."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from .conftest import client_for

NODE = "k8s-lw"


@pytest.fixture
async def node_api(kube, tmp_path):
    """A `kubernetes.aio` client holding k8s-lw's kubelet certificate (CN=system:node:k8s-lw, O=system:nodes)."""
    cert, key = kube.ca.issue_client_cert(f"system:node:{NODE}", ["system:nodes"])
    c = await client_for(kube, kube.kubeconfig(user=f"system:node:{NODE}", client_cert=(cert, key)), tmp_path)
    yield c
    await c.close()


async def _forbidden(call) -> str:
    with pytest.raises(ApiException) as err:
        await call
    assert err.value.status == 403, err.value.body
    return json.loads(err.value.body)["message"]


async def test_node_reads_only_what_its_pods_use(api, node_api, ns):
    admin, node = kclient.CoreV1Api(api), kclient.CoreV1Api(node_api)
    for name in ("used", "unused"):
        await admin.create_namespaced_secret(ns, {"metadata": {"name": name}, "data": {"k": "dg=="}})
        await admin.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"k": "v"}})
    await admin.create_namespaced_pod(ns, {"metadata": {"name": "mine"}, "spec": {
        "nodeName": NODE, "containers": [{"name": "c", "image": "busybox", "envFrom": [
            {"configMapRef": {"name": "used"}}]}], "volumes": [{"name": "s", "secret": {"secretName": "used"}}]}})
    await admin.create_namespaced_pod(ns, {"metadata": {"name": "theirs"}, "spec": {
        "nodeName": "k8s-m", "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "s", "secret": {"secretName": "unused"}}]}})

    assert (await node.read_namespaced_secret("used", ns)).data == {"k": "dg=="}
    assert (await node.read_namespaced_config_map("used", ns)).data == {"k": "v"}
    msg = await _forbidden(node.read_namespaced_secret("unused", ns))
    assert msg == (f'secrets "unused" is forbidden: User "system:node:{NODE}" cannot get resource "secrets" in API '
                   f'group "" in the namespace "{ns}": no relationship found between node \'{NODE}\' and this object')
    msg = await _forbidden(node.list_namespaced_secret(ns))
    assert msg.endswith(": No Object name found")
    msg = await _forbidden(node.delete_namespaced_secret("used", ns))
    assert msg.endswith(": can only read resources of this type")
    # a single-object list (fieldSelector metadata.name) is authorized by that name, as the kubelet's watches are
    listed = await node.list_namespaced_secret(ns, field_selector="metadata.name=used")
    assert [s.metadata.name for s in listed.items] == ["used"]
    # pods, nodes and services are readable; pod status only for its own pods; only its own pods deleted
    assert {p.metadata.name for p in (await node.list_namespaced_pod(ns)).items} == {"mine", "theirs"}
    await node.patch_namespaced_pod_status("mine", ns, {"metadata": {"labels": {"seen": "yes"}}})
    msg = await _forbidden(node.patch_namespaced_pod_status("theirs", ns, {"metadata": {"labels": {"x": "y"}}}))
    assert msg == (f'pods "theirs" is forbidden: node "{NODE}" can only update pod status for pods with '
                   "spec.nodeName set to itself")
    msg = await _forbidden(node.delete_namespaced_pod("theirs", ns))
    assert msg == f'pods "theirs" is forbidden: node "{NODE}" can only delete pods with spec.nodeName set to itself'
    msg = await _forbidden(node.create_namespaced_pod(ns, {"metadata": {"name": "new"}, "spec": {
        "nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}))
    assert "can only create mirror pods" in msg


async def test_node_modifies_only_its_own_node_and_lease(node_api, kube):
    node = kclient.CoreV1Api(node_api)
    await node.patch_node_status(NODE, {"status": {"conditions": [{"type": "Ready", "status": "True",
                                                                   "reason": "KubeletReady",
                                                                   "message": "kubelet is posting ready status"}]}})
    await node.patch_node(NODE, {"metadata": {"labels": {"example.com/own": "yes"}}})
    msg = await _forbidden(node.patch_node("k8s-m", {"metadata": {"labels": {"example.com/x": "y"}}}))
    assert msg == f'nodes "k8s-m" is forbidden: node "{NODE}" is not allowed to modify node "k8s-m"'
    msg = await _forbidden(node.delete_node("k8s-m"))
    assert msg.startswith('nodes "k8s-m" is forbidden: User "system:node:k8s-lw" cannot delete resource "nodes"')

    leases = kclient.CoordinationV1Api(node_api)
    lease = {"metadata": {"name": NODE}, "spec": {"holderIdentity": NODE, "leaseDurationSeconds": 40}}
    await leases.create_namespaced_lease("kube-node-lease", lease)
    msg = await _forbidden(leases.read_namespaced_lease("k8s-m", "kube-node-lease"))
    assert msg.endswith(": can only access node lease with the same name as the requesting node")
    msg = await _forbidden(leases.list_namespaced_lease("kube-node-lease"))
    assert msg.endswith(": can only get, create, update, patch, or delete a node lease")

    msg = await _forbidden(kclient.RbacAuthorizationV1Api(node_api).list_cluster_role())
    assert "cannot list resource" in msg
    bindings = kube.store.get(kube.registry.get("rbac.authorization.k8s.io", "clusterrolebindings"), None,
                              "system:node")
    assert "subjects" not in bindings


async def test_kubectl_with_a_node_kubeconfig(kube, kubectl, tmp_path):
    cert, key = kube.ca.issue_client_cert(f"system:node:{NODE}", ["system:nodes"])
    path = tmp_path / "node.conf"
    path.write_text(kube.kubeconfig(user=f"system:node:{NODE}", client_cert=(cert, key)))
    r = await kubectl("get", "secrets", "-n", "kube-system", kubeconfig=str(path))
    assert r.code == 1
    assert 'cannot list resource "secrets" in API group "" in the namespace "kube-system": No Object name found' \
        in r.err
    r = await kubectl("get", "nodes", kubeconfig=str(path))
    assert r.code == 0 and NODE in r.out


def _csr_pem(cn: str, orgs: list[str], dns: list[str] | None = None) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)] + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)
                                                          for o in orgs]))
    if dns:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return base64.b64encode(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)).decode()


def _csr(name: str, request: str, usages: list[str], **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"request": request, "usages": usages,
                                                 "signerName": "kubernetes.io/kube-apiserver-client-kubelet", **spec}}


KUBELET_USAGES = ["digital signature", "key encipherment", "client auth"]


async def test_csr_validation_is_422(api):
    certs = kclient.CertificatesV1Api(api)
    ok = _csr_pem("system:node:k8s-ww", ["system:nodes"])
    with pytest.raises(ApiException) as err:
        await certs.create_certificate_signing_request(_csr("bad-usage", ok, ["client auth", "bogus"]))
    assert err.value.status == 422
    msg = json.loads(err.value.body)["message"]
    assert msg.startswith('CertificateSigningRequest.certificates.k8s.io "bad-usage" is invalid: spec.usages[1]: '
                          'Unsupported value: "bogus": supported values: "any", "cert sign", "client auth"')
    with pytest.raises(ApiException) as err:
        await certs.create_certificate_signing_request(_csr("short", ok, KUBELET_USAGES, expirationSeconds=60))
    assert json.loads(err.value.body)["message"] == (
        'CertificateSigningRequest.certificates.k8s.io "short" is invalid: spec.expirationSeconds: Invalid value: '
        "60: may not specify a duration less than 600 seconds (10 minutes)")


@pytest.mark.parametrize("name,cn,orgs,usages,dns,reason", [
    ("admin-csr", "admin", ["system:masters"], KUBELET_USAGES, None, "subject organization is not system:nodes"),
    ("cn-csr", "someone", ["system:nodes"], KUBELET_USAGES, None,
     "subject common name does not begin with system:node:"),
    ("server-csr", "system:node:x", ["system:nodes"], ["digital signature", "key encipherment", "server auth"], None,
     "usages did not match [client auth digital signature key encipherment]"),
    ("dns-csr", "system:node:x", ["system:nodes"], KUBELET_USAGES, ["x.example"],
     "DNS subjectAltNames are not allowed"),
])
async def test_kubelet_signer_fails_what_is_not_a_kubelet_client(api, kubectl, name, cn, orgs, usages, dns, reason):
    certs = kclient.CertificatesV1Api(api)
    await certs.create_certificate_signing_request(_csr(name, _csr_pem(cn, orgs, dns), usages))
    assert (await kubectl("certificate", "approve", name)).code == 0
    got = await certs.read_certificate_signing_request(name)
    assert got.status.certificate is None
    failed = [c for c in got.status.conditions if c.type == "Failed"]
    assert len(failed) == 1 and (failed[0].reason, failed[0].message) == ("SignerValidationFailure", reason)
    r = await kubectl("get", "csr", name)
    assert "Approved,Failed" in r.out


async def test_csr_never_signed_fault(api, kube, kubectl):
    certs = kclient.CertificatesV1Api(api)
    kube.admission.csr_faults.never_sign.append("stuck-*")
    try:
        await certs.create_certificate_signing_request(
            _csr("stuck-1", _csr_pem("system:node:k8s-ww", ["system:nodes"]), KUBELET_USAGES))
        assert (await kubectl("certificate", "approve", "stuck-1")).code == 0
        got = await certs.read_certificate_signing_request("stuck-1")
        assert got.status.certificate is None and [c.type for c in got.status.conditions] == ["Approved"]
    finally:
        kube.admission.csr_faults.never_sign.remove("stuck-*")
