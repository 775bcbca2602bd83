"""`JoinSettings`: the non-secret knobs of a Windows node join (Calico version and source, overrides, timeouts).

Every override is optional: left empty, the join discovers the value from the cluster.
Validation messages name the field and say how to fix the value.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlparse

from prefect.blocks.core import Block
from pydantic import Field, field_validator, model_validator

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_CALICO_DOCS = "https://docs.tigera.io/calico/latest/getting-started/kubernetes/windows-calico/"


def _version(field: str, value: str | None, example: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if text[:1] in ("v", "V") and _VERSION.match(text[1:]):
        raise ValueError(f"{field} {value!r}: give the version without the leading 'v', e.g. {text[1:]}")
    if not _VERSION.match(text):
        raise ValueError(f"{field} {value!r} is not a MAJOR.MINOR.PATCH version; use e.g. {example}")
    return text


class JoinSettings(Block):
    """Non-secret settings for joining a Windows node: Calico version and install source, optional overrides of
    values the join otherwise discovers from the cluster (service CIDR, DNS IPs, Kubernetes version), credential
    mode, timeouts and the free-disk minimum.

    There is no VXLAN adapter setting: Calico for Windows' installer has no parameter for it and picks the adapter
    of the node IP; a multi-NIC host sets `VXLAN_ADAPTER` in `C:\\CalicoWindows\\config.ps1` itself.

    Example:
        Load saved settings and use them in the join flow:
        ```python
        from prefect_windows_nodes.blocks import JoinSettings

        settings = JoinSettings.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "Windows Join Settings"
    _block_type_slug = "windows-join-settings"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/2d0b896006ad463b49c28aaac14f31e00e32cfab-250x250.png"  # noqa: E501
    _documentation_url = _CALICO_DOCS

    calico_version: str | None = Field(
        default=None,
        description="Calico for Windows version to install, without a leading v (e.g. 3.26.4); empty means the "
                    "version the cluster runs (ClusterInformation default).",
    )
    install_source: Literal["online", "prestaged"] = Field(
        default="online",
        description="Where the Calico release comes from: online (download from the release base URL) or "
                    "prestaged (a release zip already on the host, for air-gapped hosts).",
    )
    release_file: str | None = Field(
        default=None,
        description="Path on the Windows host of a pre-staged Calico for Windows release zip (required when the "
                    "install source is prestaged), e.g. c:\\calico-windows-v3.26.4.zip.",
    )
    release_base_url: str | None = Field(
        default=None,
        description="Base URL of a mirror of the Calico release downloads; empty means the upstream GitHub release.",
    )
    service_cidr: str | None = Field(
        default=None,
        description="Kubernetes service CIDR (IPv4 network, e.g. 10.96.0.0/12); empty means discovered from "
                    "kubeadm-config or the kube-apiserver flags.",
    )
    dns_server_ips: list[str] | None = Field(
        default=None,
        description="Cluster DNS server IPv4 addresses (e.g. 10.96.0.10); empty means the ClusterIP of "
                    "kube-system/kube-dns.",
    )
    kubernetes_version: str | None = Field(
        default=None,
        description="Kubernetes version of the Windows node binaries, without a leading v (e.g. 1.22.6); empty "
                    "means the control plane's version.",
    )
    least_privilege: bool = Field(
        default=False,
        description="Give the host short-lived, scoped credentials (installer token, kubelet and kube-proxy "
                    "certificates) instead of the admin kubeconfig the manual runbook copies; recommended.",
    )
    calico_start_timeout_s: float = Field(
        default=600.0, gt=0,
        description="Seconds to wait for CalicoNode and CalicoFelix to be running after the installer starts them.",
    )
    node_ready_timeout_s: float = Field(
        default=600.0, gt=0,
        description="Seconds to wait for the Node to become Ready after kubelet starts.",
    )
    service_start_timeout_s: float = Field(
        default=120.0, gt=0,
        description="Seconds to wait for kubelet and kube-proxy to report Running after they are started.",
    )
    min_free_disk_gb: float = Field(
        default=20.0, ge=0,
        description="Free space the system drive needs before the join (Windows container images are large).",
    )

    @field_validator("calico_version")
    @classmethod
    def _check_calico_version(cls, v: str | None) -> str | None:
        return _version("calico_version", v, "3.26.4")

    @field_validator("kubernetes_version")
    @classmethod
    def _check_kubernetes_version(cls, v: str | None) -> str | None:
        return _version("kubernetes_version", v, "1.22.6")

    @field_validator("service_cidr")
    @classmethod
    def _check_service_cidr(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        text = v.strip()
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"service_cidr {v!r} is not an IPv4 network; use CIDR notation, e.g. 10.96.0.0/12")
        if net.version != 4:
            raise ValueError(f"service_cidr {v!r} is IPv6; Calico for Windows supports only an IPv4 service CIDR "
                             "such as 10.96.0.0/12")
        if "/" not in text:
            raise ValueError(f"service_cidr {v!r} has no prefix length; use CIDR notation, e.g. 10.96.0.0/12")
        if str(net) != text:
            raise ValueError(f"service_cidr {v!r} has host bits set; use the network address {net}")
        return text

    @field_validator("dns_server_ips", mode="before")
    @classmethod
    def _split_dns(cls, v: Any) -> Any:
        if isinstance(v, str):  # "10.96.0.10,10.96.0.11" as the installer takes it
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("dns_server_ips")
    @classmethod
    def _check_dns(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("dns_server_ips is an empty list; give at least one IPv4 address (e.g. 10.96.0.10) "
                             "or leave it unset to discover kube-dns")
        for item in v:
            try:
                ipaddress.IPv4Address(item)
            except ValueError:
                raise ValueError(f"dns_server_ips entry {item!r} is not an IPv4 address; use e.g. 10.96.0.10")
        return v

    @field_validator("release_base_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        parsed = urlparse(v.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"release_base_url {v!r} is not an http(s) URL; use e.g. "
                             "https://mirror.example.com/calico/v3.26.4")
        if parsed.username or parsed.password:
            # This block is not secret: a URL's credentials would show in the UI, in logs and in reports.
            raise ValueError("release_base_url carries credentials (user:password@); these settings are not "
                             "secret, so use a mirror the hosts can read without them, or pre-stage the release "
                             "file (install_source 'prestaged')")
        return v.strip().rstrip("/")

    @field_validator("release_file")
    @classmethod
    def _check_text(cls, v: str | None, info: Any) -> str | None:
        if v is None or not v.strip():
            return None
        if any(ord(ch) < 32 for ch in v):
            raise ValueError(f"{info.field_name} contains control characters; give a plain name or path")
        return v.strip()

    @model_validator(mode="after")
    def _check_source(self) -> "JoinSettings":
        if self.install_source == "prestaged" and not self.release_file:
            raise ValueError("install_source is 'prestaged' but release_file is empty; give the path of the release "
                             "zip on the host (e.g. c:\\calico-windows-v3.26.4.zip) or use install_source 'online'")
        return self
