"""Cluster DNS as CoreDNS answers it: Service names (short, `svc.ns`, `svc.ns.svc`, FQDN) through the pod's search
path, headless Services, ExternalName CNAMEs, `a-b-c-d.ns.pod` names, and PTR for Service IPs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from ..controllers.podutil import meta, pod_ip, pod_ready


@dataclass
class Answer:
    """One lookup: status "ok" | "nxdomain" | "servfail" | "timeout", the name answered, its records."""

    status: str
    query: str
    name: str = ""
    addresses: list[str] = field(default_factory=list)
    cname: str | None = None
    server: str = ""
    reason: str = ""


def search_path(ctx: Any, pod: dict) -> list[str]:
    """The resolv.conf search domains kubelet gives a ClusterFirst pod."""
    domain = ctx.cluster_domain()
    ns = meta(pod).get("namespace") or "default"
    return [f"{ns}.svc.{domain}", f"svc.{domain}", domain]


def candidates(ctx: Any, pod: dict, name: str, ndots: int = 5) -> list[str]:
    """Names a resolver tries for `name`, in order (search path first unless it has ≥ ndots dots)."""
    if name.endswith("."):
        return [name.rstrip(".")]
    expanded = [f"{name}.{d}" for d in search_path(ctx, pod)]
    return ([name] + expanded) if name.count(".") >= ndots else (expanded + [name])


def lookup(ctx: Any, fqdn: str) -> Answer | None:
    """Answer for one fully qualified name from the cluster zone; None when it is not in the zone."""
    domain = ctx.cluster_domain()
    name = fqdn.rstrip(".").lower()
    if not name.endswith("." + domain):
        return None
    labels = name[: -len(domain) - 1].split(".")
    if len(labels) == 3 and labels[2] == "svc":
        svc_name, ns = labels[0], labels[1]
        svc = ctx.store.try_get(ctx.rt("", "services"), ns, svc_name)
        if svc is None:
            return Answer("nxdomain", fqdn, name)
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return Answer("ok", fqdn, name, [], cname=spec.get("externalName"))
        if spec.get("clusterIP") in (None, "", "None"):
            pods = ctx.store.list(ctx.rt("", "pods"), ns)
            from .selectors import match_map_selector
            from ..controllers.podutil import labels as plabels
            ips = sorted(pod_ip(p) for p in pods if pod_ready(p) and pod_ip(p)
                         and match_map_selector(spec.get("selector"), plabels(p)) and spec.get("selector"))
            return Answer("ok", fqdn, name, ips) if ips else Answer("nxdomain", fqdn, name)
        return Answer("ok", fqdn, name, [spec["clusterIP"]])
    if len(labels) == 3 and labels[2] == "pod":
        try:
            ip = str(ipaddress.ip_address(labels[0].replace("-", ".")))
        except ValueError:
            return Answer("nxdomain", fqdn, name)
        return Answer("ok", fqdn, name, [ip])
    return Answer("nxdomain", fqdn, name)


def reverse(ctx: Any, ip: str) -> str | None:
    """PTR name of a Service ClusterIP or pod IP, or None."""
    domain = ctx.cluster_domain()
    for svc in ctx.store.list(ctx.rt("", "services")):
        if (svc.get("spec") or {}).get("clusterIP") == ip:
            return f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.{domain}"
    return None
