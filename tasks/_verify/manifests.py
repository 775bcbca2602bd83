"""The smoke-test workloads and the network policies of the verification matrix, built as data (plain dicts in
the API's JSON form), after Tigera's public "install-calico-for-windows" samples that the runbook uses.

Every image is overridable (`SmokeImages`) for clusters that pull from a private registry. The IIS image is chosen
from the node's `node.kubernetes.io/windows-build` label unless given: a Windows container must match the host's
build (process isolation), or it fails with "The container operating system does not match the host operating
system".
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

WINDOWS_BUILD_LABEL = "node.kubernetes.io/windows-build"
HOSTNAME_LABEL = "kubernetes.io/hostname"
OS_LABEL = "kubernetes.io/os"

MANAGED_BY = {"app.kubernetes.io/managed-by": "prefect-windows-nodes"}
PART_OF = "app.kubernetes.io/part-of"
NODE_ANNOTATION = "windows-nodes.prefect.io/node"

# Names of the objects (fixed: every run gets a namespace of its own).
NETSHOOT = "netshoot"
IIS_CLIENT = "iis-client"           # a netshoot pod carrying the label the IIS policy admits
NGINX = "nginx"
NGINX_SVC = "nginx-svc"
IIS = "iis"
IIS_SVC = "iis-svc"
NGINX_POLICY = "allow-nginx-ingress-from-iis"
IIS_POLICY = "allow-iis-ingress-from-clients"
CLIENT_LABEL = {"role": "iis-client"}

# The Windows builds IIS images exist for: `node.kubernetes.io/windows-build` → servercore/iis tag suffix.
IIS_TAG_BY_BUILD = {"10.0.17763": "ltsc2019", "10.0.20348": "ltsc2022"}

# Tolerations for the taints people commonly put on Windows nodes to keep Linux pods off them.
WINDOWS_TOLERATIONS = [
    {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"},
]

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class SmokeImages(BaseModel):
    """The container images of the smoke workloads; override any of them to pull from a private registry."""

    model_config = ConfigDict(extra="forbid")

    netshoot: str = Field(default="docker.io/nicolaka/netshoot:v0.13",
                          description="Linux client image with nslookup and curl (nicolaka/netshoot).")
    nginx: str = Field(default="docker.io/library/nginx:1.27", description="Linux web server image.")
    iis: str | None = Field(default=None, description="Windows IIS image; empty means the servercore IIS image "
                                                      "matching the node's Windows build.")
    iis_repository: str = Field(default="mcr.microsoft.com/windows/servercore/iis",
                                description="Repository of the IIS image when it is chosen from the node's build.")
    image_pull_secrets: list[str] = Field(default_factory=list,
                                          description="Names of image pull Secrets; each is copied from the "
                                                      "namespace given in pull_secret_namespace into the smoke "
                                                      "namespace.")
    pull_secret_namespace: str = Field(default="default",
                                       description="Namespace holding the image pull Secrets to copy.")

    @field_validator("netshoot", "nginx", "iis", "iis_repository")
    @classmethod
    def _no_blanks(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or any(ch.isspace() for ch in v)):
            raise ValueError(f"image reference {v!r} is empty or contains whitespace")
        return v


class UnknownWindowsBuild(ValueError):
    """The node's Windows build has no known IIS image tag; set `SmokeImages.iis` explicitly."""


def iis_tag_for_build(windows_build: str | None) -> str:
    """`10.0.17763` → `ltsc2019`, `10.0.20348` → `ltsc2022` (a trailing `.UBR` is ignored).

    Raises:
        UnknownWindowsBuild: no label, or a build without an LTSC IIS image.
    """
    build = ".".join((windows_build or "").strip().split(".")[:3])
    try:
        return IIS_TAG_BY_BUILD[build]
    except KeyError:
        known = ", ".join(f"{b} → {t}" for b, t in IIS_TAG_BY_BUILD.items())
        raise UnknownWindowsBuild(
            f"no IIS image known for Windows build {windows_build or '(label missing)'} (known: {known}); "
            f"set the IIS image explicitly (images.iis)") from None


def iis_image(images: SmokeImages, windows_build: str | None) -> str:
    """The IIS image to run on a node of `windows_build`: `images.iis` when set, else
    `<iis_repository>:windowsservercore-<ltsc tag>`."""
    if images.iis:
        return images.iis
    return f"{images.iis_repository}:windowsservercore-{iis_tag_for_build(windows_build)}"


def _labels(extra: dict[str, str] | None = None) -> dict[str, str]:
    labels = {**MANAGED_BY, PART_OF: "windows-node-smoke"}
    labels.update(extra or {})
    return labels


def _pull_secrets(images: SmokeImages) -> list[dict[str, str]]:
    return [{"name": n} for n in images.image_pull_secrets]


def namespace(node_name: str, *, generate_name: str = "win-smoke-") -> dict[str, Any]:
    """A Namespace with a generated name, labelled as ours and annotated with the node under test."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"generateName": generate_name, "labels": _labels(),
                         "annotations": {NODE_ANNOTATION: node_name}}}


def netshoot_pod(images: SmokeImages, *, name: str = NETSHOOT, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Linux client pod (nslookup, curl) that sleeps until deleted."""
    spec: dict[str, Any] = {
        "containers": [{"name": "netshoot", "image": images.netshoot, "command": ["sleep", "infinity"]}],
        "nodeSelector": {OS_LABEL: "linux"},
        "terminationGracePeriodSeconds": 0,
    }
    if images.image_pull_secrets:
        spec["imagePullSecrets"] = _pull_secrets(images)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": _labels({"run": name, **(labels or {})})}, "spec": spec}


def _deployment(name: str, labels: dict[str, str], pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": _labels(labels)},
            "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": _labels(labels)}, "spec": pod_spec}}}


def _service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": _labels(selector)},
            "spec": {"type": "ClusterIP", "selector": dict(selector),
                     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 80}]}}


def nginx_deployment(images: SmokeImages) -> dict[str, Any]:
    """One nginx replica on a Linux node, label `run=nginx`."""
    spec: dict[str, Any] = {
        "containers": [{"name": "nginx", "image": images.nginx,
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5}}],
        "nodeSelector": {OS_LABEL: "linux"},
        "terminationGracePeriodSeconds": 0,
    }
    if images.image_pull_secrets:
        spec["imagePullSecrets"] = _pull_secrets(images)
    return _deployment(NGINX, {"run": NGINX}, spec)


def nginx_service() -> dict[str, Any]:
    """`nginx-svc`: ClusterIP port 80 → pods `run=nginx`."""
    return _service(NGINX_SVC, {"run": NGINX})


def iis_deployment(node_name: str, image: str, images: SmokeImages) -> dict[str, Any]:
    """One IIS replica pinned to `node_name` (hostname and OS node selector, Windows taints tolerated),
    label `run=iis`."""
    spec: dict[str, Any] = {
        "containers": [{"name": "iis", "image": image,
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 10}}],
        "nodeSelector": {OS_LABEL: "windows", HOSTNAME_LABEL: node_name},
        "tolerations": [dict(t) for t in WINDOWS_TOLERATIONS],
        "terminationGracePeriodSeconds": 0,
    }
    if images.image_pull_secrets:
        spec["imagePullSecrets"] = _pull_secrets(images)
    return _deployment(IIS, {"run": IIS}, spec)


def iis_service() -> dict[str, Any]:
    """`iis-svc`: ClusterIP port 80 → pods `run=iis`."""
    return _service(IIS_SVC, {"run": IIS})


def smoke_workloads(node_name: str, windows_build: str | None, images: SmokeImages, *,
                    with_client: bool = False) -> list[dict[str, Any]]:
    """Everything the smoke test deploys into its namespace, in creation order: netshoot (and, with
    `with_client`, the labelled `iis-client` pod), nginx + nginx-svc, IIS + iis-svc.

    Raises:
        UnknownWindowsBuild: the IIS image cannot be chosen from `windows_build`.
    """
    if not is_node_name(node_name):
        raise ValueError(f"node name {node_name!r} is not a valid Kubernetes node name")
    objs = [netshoot_pod(images)]
    if with_client:
        objs.append(netshoot_pod(images, name=IIS_CLIENT, labels=CLIENT_LABEL))
    objs += [nginx_deployment(images), nginx_service(),
             iis_deployment(node_name, iis_image(images, windows_build), images), iis_service()]
    return objs


def nginx_ingress_from_iis_policy() -> dict[str, Any]:
    """The runbook's policy: nginx pods accept TCP 80 only from IIS pods (enforced on the Linux node)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": NGINX_POLICY, "labels": _labels()},
            "spec": {"podSelector": {"matchLabels": {"run": NGINX}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"run": IIS}}}],
                                  "ports": [{"protocol": "TCP", "port": 80}]}]}}


def iis_ingress_from_clients_policy() -> dict[str, Any]:
    """A policy selecting the IIS pod: it accepts TCP 80 only from pods labelled `role=iis-client`. Its denials
    can only be enforced by Calico on the Windows node itself."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": IIS_POLICY, "labels": _labels()},
            "spec": {"podSelector": {"matchLabels": {"run": IIS}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": dict(CLIENT_LABEL)}}],
                                  "ports": [{"protocol": "TCP", "port": 80}]}]}}


def policies() -> list[dict[str, Any]]:
    """The policies of the verification matrix, in creation order."""
    return [nginx_ingress_from_iis_policy(), iis_ingress_from_clients_policy()]


def is_node_name(name: str) -> bool:
    """True for a valid Kubernetes node name (an RFC 1123 DNS subdomain)."""
    return bool(_DNS_SUBDOMAIN.match(name))


def is_dns_label(name: str) -> bool:
    """True for an RFC 1035 label (what Service names are), so it is safe to put into a command line."""
    return bool(_DNS_LABEL.match(name))
