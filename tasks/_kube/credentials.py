"""Credentials a Windows node gets in `c:\\k`: built in memory, never logged, copied with `copy_bytes`.

Two modes (JoinSettings.least_privilege):
- default, as the runbook does: `c:\\k\\config` is a self-contained copy of the admin kubeconfig's selected context.
- least privilege: the installer gets a short-lived ServiceAccount token (TokenRequest) whose RBAC allows only the
  reads (and, for 3.24+, the one Secret create) `install-calico-windows.ps1` makes with `c:\\k\\config`; afterwards
  `c:\\k\\config` is replaced by a kubelet client certificate for `system:node:<name>` (O=system:nodes) issued
  through a CertificateSigningRequest. No admin credential stays on the host.

kube-proxy: Calico's `kube-proxy-service.ps1` starts kube-proxy with `--kubeconfig=c:\\k\\config` (hard-coded), so
kube-proxy runs as the node. A separate kube-proxy certificate would sit on the host unused. Instead the node's own
user gets kube-proxy's rights through a ClusterRoleBinding of the built-in `system:node-proxier` ClusterRole
(`prefect-windows-nodes:node-proxier:<node>`, one per node, removed with the node) — the same rights a kube-proxy
identity would have on that host, without patching Calico's service script.

Private keys are generated here (ECDSA P-256) and exist only in memory and in the kubeconfig on the host.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from prefect_windows_nodes.tasks._kube.watch import watch_until

NODE_KUBECONFIG = "c:\\k\\config"
INSTALLER_SA = "calico-windows-installer"
INSTALLER_SA_NAMESPACE = "kube-system"
INSTALLER_TOKEN_TTL_S = 900            # the API server's minimum is 600 s
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
NODE_PROXIER_ROLE = "system:node-proxier"
CERT_RENEW_BEFORE = dt.timedelta(days=30)
MANAGED_BY = {"app.kubernetes.io/managed-by": "prefect-windows-nodes"}


class CredentialError(Exception):
    """A credential could not be issued (CSR denied or not signed in time, TokenRequest refused)."""


# ------------------------------------------------------------------------------------------ kubeconfig text
def build_kubeconfig(server: str, *, user: str, ca_pem: bytes | None = None, token: str | None = None,
                     cert_pem: bytes | None = None, key_pem: bytes | None = None,
                     cluster_name: str = "kubernetes") -> str:
    """A self-contained, single-context kubeconfig (deterministic text: same input, same bytes)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    creds: dict[str, Any] = {}
    if cert_pem and key_pem:
        creds["client-certificate-data"] = base64.b64encode(cert_pem).decode()
        creds["client-key-data"] = base64.b64encode(key_pem).decode()
    if token:
        creds["token"] = token
    context = f"{user}@{cluster_name}"
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
    }
    return yaml.safe_dump(doc, sort_keys=False, width=1 << 20)


# --------------------------------------------------------------------------------------- CSR-issued certs
def new_key_and_csr(common_name: str, organizations: list[str]) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key (PEM, PKCS#8) and a PKCS#10 request for CN/O (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def _csr_done(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    if status.get("certificate"):
        return True
    return any(c.get("type") in ("Denied", "Failed") and c.get("status", "True") == "True"
               for c in status.get("conditions") or [])


async def issue_client_certificate(api: kclient.ApiClient, *, common_name: str, organizations: list[str],
                                   signer: str, purpose: str, timeout_s: float = 120.0,
                                   expiration_seconds: int | None = None) -> tuple[bytes, bytes]:
    """Issue a client certificate through the cluster: create a CertificateSigningRequest, approve it (the
    caller's credential must be allowed to), and WATCH it until the signer adds the certificate.

    Returns `(cert_pem, key_pem)`. Raises CredentialError if the CSR is denied/failed or not signed in time."""
    certs = kclient.CertificatesV1Api(api)
    key_pem, csr_pem = new_key_and_csr(common_name, organizations)
    name = f"{purpose}-{secrets.token_hex(4)}"
    spec: dict[str, Any] = {
        "request": base64.b64encode(csr_pem).decode(),
        "signerName": signer,
        "usages": ["digital signature", "client auth"],
    }
    if expiration_seconds:
        spec["expirationSeconds"] = int(expiration_seconds)
    body = kclient.V1CertificateSigningRequest.from_dict({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "labels": dict(MANAGED_BY)}, "spec": spec,
    })
    created = await certs.create_certificate_signing_request(body)
    approval = api.sanitize_for_serialization(created)
    approval.setdefault("status", {}).setdefault("conditions", []).append({
        "type": "Approved", "status": "True", "reason": "PrefectWindowsNodeJoin",
        "message": f"approved by the Windows node join for {common_name}",
    })
    await certs.replace_certificate_signing_request_approval(
        name, kclient.V1CertificateSigningRequest.from_dict(approval))
    done, last = await watch_until(api, certs.list_certificate_signing_request, _csr_done, name=name,
                                   timeout_s=timeout_s)
    if done is None:
        raise CredentialError(f"CertificateSigningRequest {name} for {common_name} was approved but not signed "
                              f"within {timeout_s:g}s: is the cluster's signer (kube-controller-manager) running?")
    cert_b64 = (done.get("status") or {}).get("certificate")
    if not cert_b64:
        conds = "; ".join(f"{c.get('type')}: {c.get('message', '')}" for c in
                          (done.get("status") or {}).get("conditions") or [])
        raise CredentialError(f"CertificateSigningRequest {name} for {common_name} was not signed ({conds})")
    return base64.b64decode(cert_b64), key_pem


async def kubelet_kubeconfig(api: kclient.ApiClient, node_name: str, *, server: str, ca_pem: bytes | None,
                             timeout_s: float = 120.0) -> str:
    """A kubeconfig for kubelet on `node_name`: client certificate `system:node:<name>` (O=system:nodes)."""
    user = f"system:node:{node_name}"
    cert, key = await issue_client_certificate(api, common_name=user, organizations=["system:nodes"],
                                               signer=KUBELET_SIGNER, purpose=f"node-{node_name}",
                                               timeout_s=timeout_s)
    return build_kubeconfig(server, user=user, ca_pem=ca_pem, cert_pem=cert, key_pem=key)


def node_proxier_binding(node_name: str) -> dict[str, Any]:
    """The ClusterRoleBinding that gives node `node_name`'s user (`system:node:<name>`) kube-proxy's rights."""
    return {"metadata": {"name": f"prefect-windows-nodes:node-proxier:{node_name}", "labels": dict(MANAGED_BY)},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": f"system:node:{node_name}"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODE_PROXIER_ROLE}}


async def node_proxier_bound(api: kclient.ApiClient, node_name: str) -> bool:
    """Whether the node's user is already bound to `system:node-proxier` as `node_proxier_binding` says."""
    rbac = kclient.RbacAuthorizationV1Api(api)
    want = node_proxier_binding(node_name)
    try:
        cur = await rbac.read_cluster_role_binding(want["metadata"]["name"])
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    have = api.sanitize_for_serialization(cur)
    return have.get("roleRef") == want["roleRef"] and have.get("subjects") == want["subjects"]


async def bind_node_proxier(api: kclient.ApiClient, node_name: str) -> bool:
    """Create (or correct) the node's `system:node-proxier` binding; True when something changed."""
    rbac = kclient.RbacAuthorizationV1Api(api)
    return await _apply(rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding,
                        rbac.read_cluster_role_binding, node_proxier_binding(node_name)["metadata"]["name"],
                        node_proxier_binding(node_name), kclient.V1ClusterRoleBinding)


# ------------------------------------------------------------------------------------- installer token
def installer_rules(calico_namespace: str, *, creates_token_secret: bool) -> tuple[list[dict], list[dict]]:
    """(cluster rules, namespaced rules) for what install-calico-windows.ps1 does with `c:\\k\\config`:
    `get ns calico-system`; list service-account-token Secrets in the Calico namespace and read the
    calico-node one; 3.24+ may `kubectl apply` the `calico-node-token` Secret (get, create, patch)."""
    cluster = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"],
                "resourceNames": ["calico-system", calico_namespace]}]
    namespaced = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    if creates_token_secret:
        namespaced.append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]})
        namespaced.append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["patch"],
                           "resourceNames": ["calico-node-token"]})
        namespaced.append({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"],
                           "resourceNames": ["calico-node"]})
    return cluster, namespaced


async def _apply(create, replace, read, name: str, body: dict[str, Any], model: Any, *ns: str) -> bool:
    """Create `body`, or replace it when it differs in rules/subjects/roleRef; True when something changed."""
    try:
        current = await read(name, *ns)
    except ApiException as exc:
        if exc.status != 404:
            raise
        await create(*ns, model.from_dict(body))
        return True
    cur = current.to_dict() if hasattr(current, "to_dict") else {}
    want = model.from_dict(body).to_dict()
    if all(cur.get(k) == want.get(k) for k in ("rules", "subjects", "role_ref")):
        return False
    body = {**body, "metadata": {**body["metadata"], "resourceVersion": current.metadata.resource_version}}
    await replace(name, *ns, model.from_dict(body))
    return True


async def installer_kubeconfig(api: kclient.ApiClient, *, server: str, ca_pem: bytes | None,
                               calico_namespace: str, creates_token_secret: bool,
                               ttl_s: int = INSTALLER_TOKEN_TTL_S) -> str:
    """Ensure the installer's ServiceAccount and its minimal RBAC exist, then request a short-lived token
    (TokenRequest, `ttl_s`) and return a kubeconfig using it."""
    core, rbac = kclient.CoreV1Api(api), kclient.RbacAuthorizationV1Api(api)
    meta = {"name": INSTALLER_SA, "labels": dict(MANAGED_BY)}
    try:
        await core.read_namespaced_service_account(INSTALLER_SA, INSTALLER_SA_NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise
        await core.create_namespaced_service_account(INSTALLER_SA_NAMESPACE, kclient.V1ServiceAccount.from_dict(
            {"metadata": {**meta, "namespace": INSTALLER_SA_NAMESPACE}}))
    cluster_rules, ns_rules = installer_rules(calico_namespace, creates_token_secret=creates_token_secret)
    subject = [{"kind": "ServiceAccount", "name": INSTALLER_SA, "namespace": INSTALLER_SA_NAMESPACE}]
    await _apply(rbac.create_cluster_role, rbac.replace_cluster_role, rbac.read_cluster_role, INSTALLER_SA,
                 {"metadata": meta, "rules": cluster_rules}, kclient.V1ClusterRole)
    await _apply(rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding, rbac.read_cluster_role_binding,
                 INSTALLER_SA, {"metadata": meta, "subjects": subject, "roleRef": {
                     "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": INSTALLER_SA}},
                 kclient.V1ClusterRoleBinding)
    ns_meta = {**meta, "namespace": calico_namespace}
    await _apply(rbac.create_namespaced_role, rbac.replace_namespaced_role, rbac.read_namespaced_role, INSTALLER_SA,
                 {"metadata": ns_meta, "rules": ns_rules}, kclient.V1Role, calico_namespace)
    await _apply(rbac.create_namespaced_role_binding, rbac.replace_namespaced_role_binding,
                 rbac.read_namespaced_role_binding, INSTALLER_SA,
                 {"metadata": ns_meta, "subjects": subject, "roleRef": {
                     "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": INSTALLER_SA}},
                 kclient.V1RoleBinding, calico_namespace)
    request = kclient.AuthenticationV1TokenRequest.from_dict({"spec": {"expirationSeconds": int(ttl_s)}})
    issued = await core.create_namespaced_service_account_token(INSTALLER_SA, INSTALLER_SA_NAMESPACE, request)
    token = issued.status.token if issued.status else None
    if not token:
        raise CredentialError(f"TokenRequest for {INSTALLER_SA_NAMESPACE}/{INSTALLER_SA} returned no token")
    return build_kubeconfig(server, user=f"system:serviceaccount:{INSTALLER_SA_NAMESPACE}:{INSTALLER_SA}",
                            ca_pem=ca_pem, token=token)
