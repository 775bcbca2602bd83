"""Cluster facts the join needs, discovered from the Kubernetes API: discover, don't ask.

`discover_cluster(api)` reads only (GET); it never changes the cluster. Each fact records where it came from, so a
report can say "service CIDR 10.96.0.0/12 (kubeadm-config)". `discover_cluster_facts` (a Prefect task) discovers
once per join and applies the `JoinSettings` overrides; the flow hands the result to every step.

Where each value lives: service CIDR in kubeadm's ClusterConfiguration (ConfigMap kube-system/kubeadm-config) or
the kube-apiserver's `--service-cluster-ip-range`; cluster DNS is the ClusterIP of Service kube-system/kube-dns;
the version is `/version`; Calico's API group follows Calico's own rule (v3 CRDs only when projectcalico.org is
served and crd.projectcalico.org is not: https://docs.tigera.io/calico/latest/reference/resources/overview).
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Literal

import yaml
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from prefect_windows_nodes.blocks import JoinSettings, KubernetesCluster
from prefect_windows_nodes.tasks._core.retry import retry_on_transient

CALICO_CRD_GROUP = "crd.projectcalico.org"
CALICO_V3_GROUP = "projectcalico.org"
OPERATOR_GROUP = "operator.tigera.io"
# Where calico-node runs: manifest installs in kube-system, operator installs in calico-system.
CALICO_NODE_DAEMONSETS = (("kube-system", "calico-node"), ("calico-system", "calico-node"))

_SEMVER = re.compile(r"(\d+\.\d+\.\d+)")


class ClusterFacts(BaseModel):
    """What the join needs to know about the cluster, each value with its source in `sources`."""

    api_server: str = Field(description="API server URL from the kubeconfig (server:).")
    control_plane_version: str | None = Field(default=None, description="The API server's version (/version), "
                                                                        "without the v; never overridden.")
    kubernetes_version: str | None = Field(default=None, description="Version of the Windows node binaries, "
                                                                     "without the v: the control plane's unless "
                                                                     "JoinSettings overrides it.")
    service_cidr: str | None = Field(default=None, description="Service CIDR, e.g. 10.96.0.0/12.")
    dns_server_ips: list[str] = Field(default_factory=list, description="ClusterIP(s) of kube-system/kube-dns.")
    calico_version: str | None = Field(default=None, description="Calico version from ClusterInformation, no v.")
    datastore: Literal["kubernetes", "etcdv3"] = Field(default="kubernetes", description="Calico's datastore.")
    calico_api_group: str | None = Field(
        default=None, description="crd.projectcalico.org (v1) or projectcalico.org (v3); None when neither is served.")
    operator_managed: bool = Field(default=False, description="Calico is installed by the Tigera operator.")
    calico_node_daemonset: str | None = Field(default=None, description="namespace/name of calico-node, if found.")
    calico_node_env: dict[str, str] = Field(
        default_factory=dict, description="calico-node container env (literal values and resolved ConfigMap refs).")
    sources: dict[str, str] = Field(default_factory=dict, description="Fact name → where it was read.")

    def with_overrides(self, **overrides: Any) -> "ClusterFacts":
        """A copy with every non-None override applied; their source becomes "override"."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"unknown ClusterFacts field(s): {', '.join(sorted(unknown))}")
        sources = dict(self.sources)
        sources.update({k: "override" for k in given})
        return self.model_copy(update={**given, "sources": sources})

    def with_settings(self, settings: Any) -> "ClusterFacts":
        """A copy with a `JoinSettings`' overrides (service_cidr, dns_server_ips, kubernetes_version,
        calico_version) applied where they are set."""
        return self.with_overrides(service_cidr=settings.service_cidr, dns_server_ips=settings.dns_server_ips,
                                   kubernetes_version=settings.kubernetes_version,
                                   calico_version=settings.calico_version)

    def as_facts(self) -> dict[str, str]:
        """Flat text facts for a StepResult."""
        return {
            "api_server": self.api_server,
            "control_plane_version": self.control_plane_version or "",
            "kubernetes_version": self.kubernetes_version or "",
            "service_cidr": self.service_cidr or "",
            "dns_server_ips": ",".join(self.dns_server_ips),
            "calico_version": self.calico_version or "",
            "datastore": self.datastore,
            "calico_api_group": self.calico_api_group or "",
            "operator_managed": str(self.operator_managed).lower(),
            "calico_node_daemonset": self.calico_node_daemonset or "",
        }


async def _absent_on_404(coro):
    try:
        return await coro
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def choose_calico_group(groups: set[str]) -> str | None:
    """Calico's own rule (§4): v3 CRDs only if projectcalico.org is served and crd.projectcalico.org is not."""
    if CALICO_V3_GROUP in groups and CALICO_CRD_GROUP not in groups:
        return CALICO_V3_GROUP
    if CALICO_CRD_GROUP in groups:
        return CALICO_CRD_GROUP
    return None


def calico_api_version(group: str | None) -> str:
    """The version Calico's objects are served at in `group`: `v1` for crd.projectcalico.org, else `v3`."""
    return "v1" if group == CALICO_CRD_GROUP else "v3"


def service_cidr_from_kubeadm(cluster_configuration: str | None) -> str | None:
    """`networking.serviceSubnet` of kubeadm's ClusterConfiguration YAML (first entry if comma-separated)."""
    if not cluster_configuration:
        return None
    try:
        doc = yaml.safe_load(cluster_configuration) or {}
    except yaml.YAMLError:
        return None
    subnet = ((doc.get("networking") or {}).get("serviceSubnet") or "").strip()
    return _first_ipv4_cidr(subnet)


def service_cidr_from_apiserver(command: list[str]) -> str | None:
    """`--service-cluster-ip-range` from a kube-apiserver command line (either `--flag=value` or `--flag value`)."""
    args: list[str] = []
    for part in command:  # some manifests put the whole command line in one string
        args.extend(shlex.split(part) if " " in part else [part])
    for i, arg in enumerate(args):
        if arg.startswith("--service-cluster-ip-range="):
            return _first_ipv4_cidr(arg.split("=", 1)[1])
        if arg == "--service-cluster-ip-range" and i + 1 < len(args):
            return _first_ipv4_cidr(args[i + 1])
    return None


def _first_ipv4_cidr(value: str) -> str | None:
    for item in value.split(","):
        item = item.strip()
        if item and ":" not in item:
            return item
    return None


def strip_version(text: str | None) -> str | None:
    """`v1.22.6` / `v1.22.6+k3s1` / `v3.26.4` → `1.22.6` / `3.26.4`."""
    if not text:
        return None
    m = _SEMVER.search(text)
    return m.group(1) if m else None


def container_env(daemonset: dict[str, Any], container: str = "calico-node",
                  configmaps: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """The env of `container` in a DaemonSet dict: literal values, and configMapKeyRef values resolved from
    `configmaps` (name → data) when given. Unresolvable references are left out."""
    spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    env: dict[str, str] = {}
    for c in spec.get("containers") or []:
        if c.get("name") != container:
            continue
        for item in c.get("env") or []:
            name = item.get("name")
            if not name:
                continue
            if "value" in item and item["value"] is not None:
                env[name] = str(item["value"])
                continue
            ref = ((item.get("valueFrom") or {}).get("configMapKeyRef")) or {}
            data = (configmaps or {}).get(ref.get("name", ""))
            if data is not None and ref.get("key") in data:
                env[name] = str(data[ref["key"]])
    return env


def configmap_refs(daemonset: dict[str, Any]) -> set[str]:
    """Names of the ConfigMaps the DaemonSet's env refers to."""
    spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    names = set()
    for c in spec.get("containers") or []:
        for item in c.get("env") or []:
            ref = ((item.get("valueFrom") or {}).get("configMapKeyRef")) or {}
            if ref.get("name"):
                names.add(ref["name"])
    return names


def calico_version_from_images(daemonset: dict[str, Any]) -> str | None:
    """The Calico version in calico-node's image tag (`docker.io/calico/node:v3.22.1` → `3.22.1`), if tagged."""
    spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        image = str(c.get("image") or "")
        repo, _, tag = image.rpartition(":")
        if repo.endswith("/node") and "calico" in repo and re.fullmatch(r"v?\d+\.\d+\.\d+", tag):
            return strip_version(tag)
    return None


async def discover_cluster(api: kclient.ApiClient) -> ClusterFacts:
    """Read the cluster's facts (GET requests only). A 404 means "absent"; any other API error propagates."""
    core = kclient.CoreV1Api(api)
    apps = kclient.AppsV1Api(api)
    custom = kclient.CustomObjectsApi(api)
    to_dict = api.sanitize_for_serialization
    sources: dict[str, str] = {"api_server": "kubeconfig server"}

    version = await kclient.VersionApi(api).get_code()
    kube_version = strip_version(version.git_version)
    sources["control_plane_version"] = sources["kubernetes_version"] = "/version"

    # Service CIDR: kubeadm-config, else the kube-apiserver static pod's flag.
    service_cidr = None
    cm = await _absent_on_404(core.read_namespaced_config_map("kubeadm-config", "kube-system"))
    if cm is not None:
        service_cidr = service_cidr_from_kubeadm((cm.data or {}).get("ClusterConfiguration"))
        if service_cidr:
            sources["service_cidr"] = "ConfigMap kube-system/kubeadm-config"
    if service_cidr is None:
        pods = await core.list_namespaced_pod("kube-system", label_selector="component=kube-apiserver")
        for pod in pods.items:
            for c in pod.spec.containers or []:
                found = service_cidr_from_apiserver(list(c.command or []) + list(c.args or []))
                if found:
                    service_cidr = found
                    sources["service_cidr"] = f"kube-apiserver flags (pod kube-system/{pod.metadata.name})"
                    break
            if service_cidr:
                break

    dns: list[str] = []
    svc = await _absent_on_404(core.read_namespaced_service("kube-dns", "kube-system"))
    if svc is not None:
        ips = list(svc.spec.cluster_ips or []) or ([svc.spec.cluster_ip] if svc.spec.cluster_ip else [])
        dns = [ip for ip in ips if ip and ip != "None" and ":" not in ip]
        sources["dns_server_ips"] = "Service kube-system/kube-dns"

    groups = {g.name for g in (await kclient.ApisApi(api).get_api_versions()).groups or []}
    group = choose_calico_group(groups)
    sources["calico_api_group"] = "API discovery (/apis)"

    configmaps: dict[tuple[str, str], dict[str, str] | None] = {}   # each ConfigMap read once

    async def configmap(name: str, ns: str) -> dict[str, str] | None:
        if (ns, name) not in configmaps:
            cm = await _absent_on_404(core.read_namespaced_config_map(name, ns))
            configmaps[(ns, name)] = None if cm is None else dict(cm.data or {})
        return configmaps[(ns, name)]

    # calico-node DaemonSet and its env (DATASTORE_TYPE, FELIX_* overrides).
    ds_name, env, image_version = None, {}, None
    for ns, name in CALICO_NODE_DAEMONSETS:
        ds = await _absent_on_404(apps.read_namespaced_daemon_set(name, ns))
        if ds is None:
            continue
        ds_dict = to_dict(ds)
        maps = {ref: data for ref in configmap_refs(ds_dict) if (data := await configmap(ref, ns)) is not None}
        ds_name, env = f"{ns}/{name}", container_env(ds_dict, configmaps=maps)
        image_version = calico_version_from_images(ds_dict)
        break

    # Datastore: calico-config ConfigMap, else calico-node's DATASTORE_TYPE, else "no Calico CRDs → etcd".
    datastore = None
    calico_cm = await configmap("calico-config", "kube-system") or {}
    if calico_cm.get("datastore_type"):
        datastore = calico_cm["datastore_type"]
        sources["datastore"] = "ConfigMap kube-system/calico-config datastore_type"
    elif env.get("DATASTORE_TYPE"):
        datastore = env["DATASTORE_TYPE"]
        sources["datastore"] = f"DaemonSet {ds_name} env DATASTORE_TYPE"
    elif env.get("ETCD_ENDPOINTS") or calico_cm.get("etcd_endpoints"):
        datastore = "etcdv3"  # calico-etcd.yaml: etcd endpoints configured, no DATASTORE_TYPE (defaults to etcdv3)
        sources["datastore"] = "etcd endpoints configured for calico-node"
    else:
        datastore = "kubernetes" if group else "etcdv3"
        sources["datastore"] = "Calico CRDs served" if group else "no Calico CRDs served"
    datastore = "etcdv3" if datastore.strip().lower() in ("etcdv3", "etcd") else "kubernetes"

    calico_version = None
    if group and datastore == "kubernetes":
        info = await _absent_on_404(custom.get_cluster_custom_object(
            group, calico_api_version(group), "clusterinformations", "default"))
        if info is not None:
            calico_version = strip_version((info.get("spec") or {}).get("calicoVersion"))
            sources["calico_version"] = "ClusterInformation default"
    if calico_version is None and image_version:  # etcd datastores keep ClusterInformation out of the API
        calico_version = image_version
        sources["calico_version"] = f"DaemonSet {ds_name} calico-node image tag"

    operator = False
    if OPERATOR_GROUP in groups:
        inst = await _absent_on_404(custom.get_cluster_custom_object(OPERATOR_GROUP, "v1", "installations", "default"))
        if inst is not None:
            operator = True
            sources["operator_managed"] = "Installation default"
    if not operator and await _absent_on_404(core.read_namespace("calico-system")) is not None:
        operator = True
        sources["operator_managed"] = "namespace calico-system"

    return ClusterFacts(
        api_server=api.configuration.host.rstrip("/"),
        control_plane_version=kube_version,
        kubernetes_version=kube_version,
        service_cidr=service_cidr,
        dns_server_ips=dns,
        calico_version=calico_version,
        datastore=datastore,
        calico_api_group=group,
        operator_managed=operator,
        calico_node_daemonset=ds_name,
        calico_node_env=env,
        sources=sources,
    )


async def read_cluster_facts(cluster: KubernetesCluster, settings: JoinSettings | None = None) -> ClusterFacts:
    """Discover the cluster through `cluster`'s client and apply `settings`' overrides (read-only)."""
    async with cluster.get_client() as api:
        facts = await discover_cluster(api)
    return facts.with_settings(settings) if settings is not None else facts


# NO_CACHE: discovery must really look at the cluster every run (and its inputs hold secrets).
@task(name="discover_cluster", retries=3, retry_delay_seconds=[1, 2, 4], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def discover_cluster_facts(cluster: KubernetesCluster, settings: JoinSettings | None = None) -> ClusterFacts:
    """Discover the cluster's facts once for a join (GET requests only) and apply the JoinSettings overrides.

    Args:
        cluster: the cluster to read.
        settings: overrides (service CIDR, DNS IPs, Kubernetes and Calico versions) applied over what is found.

    Returns:
        ClusterFacts: versions, service CIDR, DNS IPs, Calico datastore, API group and management, each with
        its source.

    Example:
        ```python
        from prefect_windows_nodes.blocks import JoinSettings, KubernetesCluster
        from prefect_windows_nodes.tasks import discover_cluster_facts

        facts = await discover_cluster_facts(KubernetesCluster.load("BLOCK_NAME"), JoinSettings.load("BLOCK_NAME"))
        ```
    """
    return await read_cluster_facts(cluster, settings)
