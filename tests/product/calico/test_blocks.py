"""The four blocks: Prefect's standard block suite, secrets kept secret, and validation messages."""

from __future__ import annotations

import base64
import warnings

import pytest
import yaml
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr, ValidationError

from prefect_windows_nodes.blocks import ControlPlaneSSH, JoinSettings, KubernetesCluster, WindowsHost
from prefect_windows_nodes.blocks import kubernetes as kube_block

TOKEN = "s3cr3t-token-value-0123456789"


def kubeconfig(server="https://127.0.0.1:6443", token=TOKEN, extra_cluster=None, extra_user=None, contexts=None):
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(b"-----BEGIN CERTIFICATE-----\n"
                                                                               b"x\n-----END CERTIFICATE-----\n").decode()}
    cluster.update(extra_cluster or {})
    user = {"token": token} if token else {}
    user.update(extra_user or {})
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@lab",
        "clusters": [{"name": "lab", "cluster": cluster},
                     {"name": "other", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "admin", "user": user}],
        "contexts": contexts or [{"name": "admin@lab", "context": {"cluster": "lab", "user": "admin"}},
                                 {"name": "other", "context": {"cluster": "other", "user": "admin"}}],
    })


@pytest.mark.parametrize("block_class", [KubernetesCluster, ControlPlaneSSH, JoinSettings, WindowsHost])
class TestStandardBlockSuite(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_class):
        return block_class


def test_blocks_are_registered_by_the_collection_entry_point():
    """pyproject's `prefect.collections` entry point names the module that exports every block class."""
    import importlib
    import tomllib
    from pathlib import Path

    from prefect.blocks.core import Block

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    modules = list(pyproject["project"]["entry-points"]["prefect.collections"].values())
    assert modules == ["prefect_windows_nodes.blocks"]
    exported = vars(importlib.import_module(modules[0]))
    for cls in (KubernetesCluster, ControlPlaneSSH, JoinSettings, WindowsHost):
        assert exported[cls.__name__] is cls and issubclass(cls, Block)
    slugs = [c.get_block_type_slug() for c in (KubernetesCluster, ControlPlaneSSH, JoinSettings, WindowsHost)]
    assert len(set(slugs)) == 4


def test_kubeconfig_is_secret_in_dumps_and_repr():
    block = KubernetesCluster(kubeconfig=kubeconfig())
    assert isinstance(block.kubeconfig, SecretStr)
    for text in (repr(block), str(block.model_dump()), block.model_dump_json()):
        assert TOKEN not in text


def test_kubernetes_cluster_from_file_and_context(tmp_path):
    path = tmp_path / "config"
    path.write_text(kubeconfig())
    block = KubernetesCluster.from_file(path)
    assert block.server_url() == "https://127.0.0.1:6443"
    assert KubernetesCluster.from_file(path, context="other").server_url() == "https://10.0.0.1:6443"
    with pytest.raises(kube_block.KubeconfigError, match="no context named 'nope'"):
        KubernetesCluster.from_file(path, context="nope").server_url()


def test_kubernetes_cluster_validation_never_echoes_the_kubeconfig():
    with pytest.raises(ValidationError) as info:
        KubernetesCluster(kubeconfig=f"token: {TOKEN}\nbroken: [")
    assert TOKEN not in str(info.value) and "not valid YAML" in str(info.value)
    with pytest.raises(ValidationError, match="in_cluster"):
        KubernetesCluster()
    with pytest.raises(ValidationError, match="both set"):
        KubernetesCluster(kubeconfig=kubeconfig(), in_cluster=True)


async def test_insecure_skip_tls_verify_is_refused():
    block = KubernetesCluster(kubeconfig=kubeconfig(extra_cluster={"insecure-skip-tls-verify": True}))
    with pytest.raises(kube_block.KubeconfigError, match="TLS verification cannot be turned off"):
        async with block.get_client():
            pass


async def test_token_goes_to_the_header_and_ca_stays_in_memory(monkeypatch):
    created = []
    monkeypatch.setattr(kube_block.tempfile, "mkdtemp", lambda **kw: created.append(kw) or "/nonexistent")
    import ssl

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", lambda self, *a, **kw: None)
    block = KubernetesCluster(kubeconfig=kubeconfig())
    async with block.get_client() as api:
        cfg = api.configuration
        assert cfg.host == "https://127.0.0.1:6443"
        assert cfg.api_key["BearerToken"] == f"Bearer {TOKEN}"
        assert cfg.ca_cert_data.startswith("-----BEGIN CERTIFICATE-----")
        assert cfg.ssl_ca_cert is None and cfg.verify_ssl
    assert created == []  # no temporary file for a token kubeconfig


def test_join_settings_messages_name_field_and_fix():
    cases = {
        "service_cidr": ("10.96.0.1/12", "use the network address 10.96.0.0/12"),
        "calico_version": ("v3.26.4", "without the leading 'v', e.g. 3.26.4"),
        "kubernetes_version": ("1.22", "use e.g. 1.22.6"),
        "dns_server_ips": (["10.96.0.300"], "not an IPv4 address"),
        "release_base_url": ("ftp://mirror", "not an http(s) URL"),
    }
    for field, (value, fix) in cases.items():
        with pytest.raises(ValidationError) as info:
            JoinSettings(**{field: value})
        assert field in str(info.value) and fix in str(info.value), field
    with pytest.raises(ValidationError, match="IPv6"):
        JoinSettings(service_cidr="fd00::/108")
    with pytest.raises(ValidationError, match="carries credentials") as info:
        JoinSettings(release_base_url="https://mirror-user:s3cret-pw@mirror.example/calico")
    assert "s3cret-pw" not in str(info.value)
    with pytest.raises(ValidationError, match="release_file is empty"):
        JoinSettings(install_source="prestaged")
    ok = JoinSettings(service_cidr="10.96.0.0/12", dns_server_ips="10.96.0.10, 10.96.0.11",
                      calico_version="3.26.4", release_base_url="https://mirror.example/calico/")
    assert ok.dns_server_ips == ["10.96.0.10", "10.96.0.11"] and ok.release_base_url == "https://mirror.example/calico"


def test_control_plane_ssh_requires_known_hosts_unless_check_is_off():
    with pytest.raises(ValidationError, match="known_hosts is empty") as info:
        ControlPlaneSSH(host="10.0.0.1", private_key="KEYTEXT-SECRET")
    assert "KEYTEXT-SECRET" not in str(info.value)
    block = ControlPlaneSSH(host="10.0.0.1", private_key="k", check_host_key=False)
    assert "k" != repr(block.private_key)


def test_control_plane_ssh_warns_when_host_key_check_is_off():
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    block = ControlPlaneSSH(host="10.0.0.1", private_key=key, check_host_key=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options = block._options()
    assert options["known_hosts"] is None
    assert any("host-key checking is off" in str(w.message) for w in caught)
    strict = ControlPlaneSSH(host="10.0.0.1", private_key=key, known_hosts="10.0.0.1 " +
                             asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode())
    assert strict._options()["known_hosts"] is not None
    assert key not in repr(strict) and key not in strict.model_dump_json()


def test_bad_private_key_message_has_no_key_text():
    block = ControlPlaneSSH(host="h", private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETGARBAGE\n",
                            check_host_key=False)
    with pytest.raises(ValueError) as info:
        block._options()
    assert "SECRETGARBAGE" not in str(info.value)
