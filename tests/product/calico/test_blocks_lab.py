"""The blocks' clients against the lab's real endpoints: TLS-verified Kubernetes API access (token and client
certificate kubeconfigs, discovery) and SSH (quoting, stdin, host-key checking)."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import aiohttp
import asyncssh
import pytest
import yaml
from kubernetes.aio import client as kclient

from prefect_windows_nodes.blocks import ControlPlaneSSH, KubernetesCluster
from prefect_windows_nodes.blocks import kubernetes as kube_block
from prefect_windows_nodes.tasks._kube.discovery import discover_cluster

from .conftest import cluster_block, needs_lab, ssh_block

pytestmark = needs_lab


async def test_token_kubeconfig_lists_nodes(lab_factory):
    async with lab_factory("default") as lab:
        async with cluster_block(lab).get_client() as api:
            nodes = await kclient.CoreV1Api(api).list_node()
        assert {n.metadata.name for n in nodes.items} >= {"k8s-m", "k8s-lw"}
        assert lab.kube.requests.find(resource="nodes")[-1].user == "kubernetes-admin"


async def test_client_certificate_kubeconfig_leaves_no_file_behind(lab_factory, monkeypatch):
    made = []
    real_mkdtemp = kube_block.tempfile.mkdtemp

    def recording_mkdtemp(**kw):
        path = real_mkdtemp(**kw)
        made.append((path, Path(path).stat().st_mode & 0o777))
        return path

    monkeypatch.setattr(kube_block.tempfile, "mkdtemp", recording_mkdtemp)
    async with lab_factory("default") as lab:
        cert, key = lab.ca.issue_client_cert("cert-admin", ["system:masters"])
        doc = yaml.safe_load(Path(lab.describe()["kubeconfig"]).read_text())
        doc["users"][0]["user"] = {"client-certificate-data": base64.b64encode(cert).decode(),
                                   "client-key-data": base64.b64encode(key).decode()}
        block = KubernetesCluster(kubeconfig=yaml.safe_dump(doc))
        async with block.get_client() as api:
            await kclient.CoreV1Api(api).list_namespace()
        assert lab.kube.requests.find(resource="namespaces")[-1].user == "cert-admin"
    assert len(made) == 1 and made[0][1] == 0o700
    assert not Path(made[0][0]).exists()


async def test_tls_is_verified_against_the_kubeconfig_ca(lab_factory, tmp_path):
    import trustme

    async with lab_factory("default") as lab:
        doc = yaml.safe_load(Path(lab.describe()["kubeconfig"]).read_text())
        other_ca = trustme.CA().cert_pem.bytes()
        doc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(other_ca).decode()
        doc["clusters"][0]["cluster"].pop("certificate-authority", None)
        block = KubernetesCluster(kubeconfig=yaml.safe_dump(doc))
        with pytest.raises((aiohttp.ClientConnectorCertificateError, ssl.SSLError)):
            async with block.get_client() as api:
                await kclient.CoreV1Api(api).list_namespace()
        assert lab.kube.requests.count(resource="namespaces") == 0


@pytest.mark.parametrize("scenario, datastore, group, operator", [
    ("default", "kubernetes", "crd.projectcalico.org", False),
    ("operator", "kubernetes", "crd.projectcalico.org", True),
    ("etcd", "etcdv3", None, False),
])
async def test_discovery_per_scenario(lab_factory, scenario, datastore, group, operator):
    async with lab_factory(scenario) as lab:
        async with cluster_block(lab).get_client() as api:
            facts = await discover_cluster(api)
        assert lab.kube.requests.mutations() == []
        assert facts.datastore == datastore
        assert facts.calico_api_group == group
        assert facts.operator_managed is operator
        assert facts.service_cidr == "10.96.0.0/12"
        assert facts.dns_server_ips == ["10.96.0.10"]
        assert facts.api_server == lab.kube.url
        assert facts.kubernetes_version == lab.kube.version["gitVersion"].lstrip("v").split("+")[0]
        if datastore == "kubernetes":
            assert facts.calico_version and facts.calico_version[0].isdigit()


async def test_default_scenario_facts_match_the_runbook(lab_factory):
    async with lab_factory("default") as lab:
        async with cluster_block(lab).get_client() as api:
            facts = await discover_cluster(api)
        assert facts.kubernetes_version == "1.22.6"
        assert facts.calico_node_daemonset == "kube-system/calico-node"


async def test_ssh_run_quotes_every_argument_and_passes_stdin(lab_factory):
    async with lab_factory("default", ssh=True) as lab:
        ssh = ssh_block(lab)
        hostile = "a b; touch /tmp/pwned $(id) `id` 'q'"
        result = await ssh.run(["echo", hostile])
        assert result.exit_status == 0 and result.stdout == hostile + "\n"
        piped = await ssh.run(["cat"], input="line one\nline two\n")
        assert piped.stdout == "line one\nline two\n"
        async with ssh.connect() as conn:
            first = await ssh.run(["hostname"], conn=conn)
            second = await ssh.run(["whoami"], conn=conn)
        assert (first.stdout.strip(), second.stdout.strip()) == ("k8s-m", "root")
        missing = await ssh.run(["no-such-program"])
        assert missing.exit_status != 0


async def test_ssh_host_key_mismatch_is_refused(lab_factory):
    async with lab_factory("default", ssh=True) as lab:
        good = ssh_block(lab)
        info = lab.describe()["control_plane_ssh"]
        impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
        bad = good.model_copy(update={"known_hosts": f"[{info['host']}]:{info['port']} {impostor}\n"})
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            await bad.run(["true"])
        assert not any(r.command == "true" for r in lab.ssh.records)


async def test_in_cluster_mode_uses_the_pod_service_account(lab_factory, tmp_path, monkeypatch):
    from urllib.parse import urlparse

    from kubernetes.aio.config import incluster_config

    async with lab_factory("default") as lab:
        url = urlparse(lab.kube.url)
        token, ca = tmp_path / "token", tmp_path / "ca.crt"
        token.write_text(lab.kube.admin_token)
        ca.write_bytes(lab.ca.ca_pem)
        # Where a pod finds its service account (the only thing redirected: the files' location).
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", url.hostname)
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(url.port))
        block = KubernetesCluster(in_cluster=True)
        assert block.server_url() == lab.kube.url
        async with block.get_client() as api:
            await kclient.CoreV1Api(api).list_namespace()
        assert lab.kube.requests.find(resource="namespaces")[-1].user == "kubernetes-admin"
