"""Authentication (admin token, ServiceAccount TokenRequest tokens with expiry, bootstrap tokens, CSR-issued client
certificates) and RBAC (403 with the real message until a binding grants the verb)."""

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


async def test_requests_without_valid_credentials(http):
    assert (await http("GET", "/api/v1/nodes", token="not-a-token")).status == 401
    anon = await http("GET", "/api/v1/nodes", token=None)
    assert anon.status == 403
    assert anon.json()["message"] == ('nodes is forbidden: User "system:anonymous" cannot list resource "nodes" in '
                                      'API group "" at the cluster scope')
    assert (await http("GET", "/version", token=None)).status == 200  # system:public-info-viewer
    assert (await http("GET", "/healthz", token=None)).body == b"ok"


async def test_service_account_token_request_rbac_and_expiry(api, kube, http, ns, tmp_path):
    v1 = kclient.CoreV1Api(api)
    await v1.create_namespaced_service_account(ns, {"metadata": {"name": "joiner"}})
    tr = await v1.create_namespaced_service_account_token("joiner", ns, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}})
    token = tr.status.token
    assert tr.status.expiration_timestamp is not None

    sa_client = await client_for(kube, kube.kubeconfig(user="joiner", token=token), tmp_path)
    try:
        with pytest.raises(ApiException) as err:
            await kclient.CoreV1Api(sa_client).list_namespaced_config_map(ns)
        assert err.value.status == 403
        assert json.loads(err.value.body)["message"] == (
            f'configmaps is forbidden: User "system:serviceaccount:{ns}:joiner" cannot list resource "configmaps" '
            f'in API group "" in the namespace "{ns}"')
        rbac = kclient.RbacAuthorizationV1Api(api)
        await rbac.create_namespaced_role(ns, {"metadata": {"name": "cm-reader"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
        await rbac.create_namespaced_role_binding(ns, {
            "metadata": {"name": "joiner-reads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "joiner", "namespace": ns}]})
        await kclient.CoreV1Api(sa_client).list_namespaced_config_map(ns)  # now allowed
        with pytest.raises(ApiException) as err:
            await kclient.CoreV1Api(sa_client).create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
        assert err.value.status == 403
    finally:
        await sa_client.close()
    assert kube.authenticate_kubeconfig(kube.kubeconfig(token=token)) == f"system:serviceaccount:{ns}:joiner"

    real_now = kube.authn.now
    kube.authn.now = lambda: real_now() + 3601
    try:
        assert (await http("GET", f"/api/v1/namespaces/{ns}/configmaps", token=token)).status == 401
        assert kube.authenticate_kubeconfig(kube.kubeconfig(token=token)) is None
    finally:
        kube.authn.now = real_now
    await v1.delete_namespaced_service_account("joiner", ns)  # a deleted account's tokens stop working
    assert (await http("GET", f"/api/v1/namespaces/{ns}/configmaps", token=token)).status == 401


async def test_token_request_shorter_than_ten_minutes_is_invalid(http, ns):
    await http("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", json={"metadata": {"name": "sa"}})
    reply = await http("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/sa/token",
                       json={"spec": {"expirationSeconds": 60}})
    assert reply.status == 422
    assert "may not specify a duration less than 10 minutes" in reply.json()["message"]


async def test_legacy_service_account_token_secret(api, http, ns):
    v1 = kclient.CoreV1Api(api)
    await v1.create_namespaced_service_account(ns, {"metadata": {"name": "calico-node"}})
    secret = await v1.create_namespaced_secret(ns, {
        "metadata": {"name": "calico-node-token", "annotations": {"kubernetes.io/service-account.name":
                                                                  "calico-node"}},
        "type": "kubernetes.io/service-account-token"})
    token = base64.b64decode(secret.data["token"]).decode()
    assert base64.b64decode(secret.data["namespace"]).decode() == ns
    reply = await http("GET", "/api/v1/nodes", token=token)
    assert reply.status == 403
    assert f"system:serviceaccount:{ns}:calico-node" in reply.json()["message"]
    await v1.delete_namespaced_secret("calico-node-token", ns)
    assert (await http("GET", "/api/v1/nodes", token=token)).status == 401


async def test_bootstrap_token_then_csr_then_node_certificate(api, kube, kubectl, tmp_path):
    v1 = kclient.CoreV1Api(api)
    token_id, secret = "abcdef", "0123456789abcdef"

    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    await v1.create_namespaced_secret("kube-system", {
        "metadata": {"name": f"bootstrap-token-{token_id}"}, "type": "bootstrap.kubernetes.io/token",
        "data": {"token-id": b64(token_id), "token-secret": b64(secret),
                 "usage-bootstrap-authentication": b64("true"), "usage-bootstrap-signing": b64("true"),
                 "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token")}})
    assert kube.authenticate_kubeconfig(kube.kubeconfig(token=f"{token_id}.{secret}")) == \
        f"system:bootstrap:{token_id}"
    assert kube.authenticate_kubeconfig(kube.kubeconfig(token=f"{token_id}.{'x' * 16}")) is None

    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "system:node:k8s-ww"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes")])).sign(key, hashes.SHA256())
    pem = csr.public_bytes(serialization.Encoding.PEM)
    boot = await client_for(kube, kube.kubeconfig(user="boot", token=f"{token_id}.{secret}"), tmp_path)
    try:
        created = await kclient.CertificatesV1Api(boot).create_certificate_signing_request({
            "metadata": {"name": "node-csr-k8s-ww"},
            "spec": {"request": base64.b64encode(pem).decode(),
                     "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                     "usages": ["digital signature", "key encipherment", "client auth"]}})
        assert created.spec.username == f"system:bootstrap:{token_id}"
        assert "system:bootstrappers:kubeadm:default-node-token" in created.spec.groups
        with pytest.raises(ApiException) as err:  # bootstrappers may not approve
            await kclient.CoreV1Api(boot).list_node()
        assert err.value.status == 403
    finally:
        await boot.close()

    r = await kubectl("certificate", "approve", "node-csr-k8s-ww")
    assert r.code == 0, r.err
    got = await kclient.CertificatesV1Api(api).read_certificate_signing_request("node-csr-k8s-ww")
    assert [c.type for c in got.status.conditions] == ["Approved"]
    cert_pem = base64.b64decode(got.status.certificate)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:k8s-ww"
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(kube.ca.ca_pem))
    r = await kubectl("get", "csr", "node-csr-k8s-ww")
    assert "Approved,Issued" in r.out

    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    node_kubeconfig = kube.kubeconfig(user="system:node:k8s-ww", client_cert=(cert_pem, key_pem))
    assert kube.authenticate_kubeconfig(node_kubeconfig) == "system:node:k8s-ww"
    node = await client_for(kube, node_kubeconfig, tmp_path)
    try:
        nodes = await kclient.CoreV1Api(node).list_node()  # the Node authorizer allows this
        assert {"k8s-m", "k8s-lw"} <= {n.metadata.name for n in nodes.items}
        with pytest.raises(ApiException) as err:
            await kclient.RbacAuthorizationV1Api(node).list_cluster_role()
        assert err.value.status == 403
    finally:
        await node.close()
    other_ca = kube.kubeconfig(client_cert=(cert_pem, key_pem)).replace(
        base64.b64encode(kube.ca.ca_pem).decode(), base64.b64encode(b"not our ca").decode())
    assert kube.authenticate_kubeconfig(other_ca) is None


async def test_denied_csr_is_not_signed(api, kubectl):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "someone")])).sign(key, hashes.SHA256())
    await kclient.CertificatesV1Api(api).create_certificate_signing_request({
        "metadata": {"name": "deny-me"},
        "spec": {"request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
                 "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]}})
    assert (await kubectl("certificate", "deny", "deny-me")).code == 0
    got = await kclient.CertificatesV1Api(api).read_certificate_signing_request("deny-me")
    assert got.status.certificate is None and [c.type for c in got.status.conditions] == ["Denied"]


async def test_admin_kubeconfig_file(kube):
    assert kube.kubeconfig_path.stat().st_mode & 0o777 == 0o600
    assert kube.authenticate_kubeconfig(kube.kubeconfig_path.read_text()) == "kubernetes-admin"
    assert kube.lab_json()["url"] == kube.url
