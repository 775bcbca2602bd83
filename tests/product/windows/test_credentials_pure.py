"""Kubeconfig building and parsing for the node (no cluster needed)."""

from __future__ import annotations

import base64
import datetime as dt

import trustme
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from pydantic import SecretStr

from prefect_windows_nodes.blocks import KubernetesCluster, kubeconfig_identity
from prefect_windows_nodes.tasks._kube.credentials import build_kubeconfig, installer_rules, new_key_and_csr

CA = trustme.CA()


def test_build_kubeconfig_is_self_contained_and_deterministic():
    a = build_kubeconfig("https://10.0.0.1:6443", user="system:node:k8s-ww", ca_pem=CA.cert_pem.bytes(),
                         cert_pem=b"CERT", key_pem=b"KEY")
    b = build_kubeconfig("https://10.0.0.1:6443", user="system:node:k8s-ww", ca_pem=CA.cert_pem.bytes(),
                         cert_pem=b"CERT", key_pem=b"KEY")
    assert a == b
    doc = yaml.safe_load(a)
    assert doc["current-context"] == "system:node:k8s-ww@kubernetes"
    assert doc["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:6443"
    assert base64.b64decode(doc["users"][0]["user"]["client-key-data"]) == b"KEY"
    # The Calico installer finds the API server with `findstr https:// c:\k\config`: one line holds it.
    assert [line.strip() for line in a.splitlines() if "https://" in line] == ["server: https://10.0.0.1:6443"]


def test_flatten_inlines_file_references_and_keeps_only_the_selected_context(tmp_path):
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(CA.cert_pem.bytes())
    token_file = tmp_path / "token"
    token_file.write_text("abc.def\n")
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:6443",
                                                  "certificate-authority": str(ca_file)}},
                     {"name": "prod", "cluster": {"server": "https://prod:6443"}}],
        "users": [{"name": "admin", "user": {"tokenFile": str(token_file)}}, {"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "admin@lab", "context": {"cluster": "lab", "user": "admin"}},
                     {"name": "other", "context": {"cluster": "prod", "user": "x"}}],
    }
    block = KubernetesCluster(kubeconfig=SecretStr(yaml.safe_dump(cfg)), context="admin@lab")
    out = yaml.safe_load(block.flattened_kubeconfig())
    assert block.flattened_kubeconfig() == block.flattened_kubeconfig()  # deterministic: compared byte for byte
    assert [c["name"] for c in out["clusters"]] == ["lab"] and len(out["users"]) == 1
    assert base64.b64decode(out["clusters"][0]["cluster"]["certificate-authority-data"]) == CA.cert_pem.bytes()
    assert out["users"][0]["user"] == {"token": "abc.def"}
    assert out["current-context"] == "admin@lab"
    assert block.ca_pem() == CA.cert_pem.bytes()
    assert block.server_endpoint() == ("127.0.0.1", 6443)


def test_identity_of_certificate_and_token_kubeconfigs():
    key_pem, csr_pem = new_key_and_csr("system:node:k8s-ww", ["system:nodes"])
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:k8s-ww"
    cert = _sign(csr)
    text = build_kubeconfig("https://h:6443", user="system:node:k8s-ww", cert_pem=cert, key_pem=key_pem)
    ident = kubeconfig_identity(text)
    assert ident.kind == "certificate" and ident.common_name == "system:node:k8s-ww"
    assert ident.organizations == ("system:nodes",) and ident.server == "https://h:6443"
    assert ident.valid_for(dt.timedelta(days=30)) and not ident.valid_for(dt.timedelta(days=400))
    tok = kubeconfig_identity(build_kubeconfig("https://h:6443", user="admin", token="s3cr3t"))
    assert tok.kind == "token" and "s3cr3t" not in repr(tok)
    assert kubeconfig_identity("not: [a kubeconfig").kind == "none"


def _sign(csr: x509.CertificateSigningRequest) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization

    ca_key = serialization.load_pem_private_key(CA.private_key_pem.bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(CA.cert_pem.bytes())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365)).sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_installer_rules_are_minimal():
    cluster, ns = installer_rules("kube-system", creates_token_secret=False)
    assert cluster == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"],
                        "resourceNames": ["calico-system", "kube-system"]}]
    assert ns == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    _, ns324 = installer_rules("calico-system", creates_token_secret=True)
    verbs = {v for r in ns324 for v in r["verbs"]}
    assert verbs == {"get", "list", "create", "patch"}
    assert all("*" not in r["verbs"] and "delete" not in r["verbs"] for r in ns324)
