"""Cluster scenarios: the objects a lab cluster starts with, and the `/version` it reports.

`default` is the runbook's starting point (kubeadm 1.22.6, two Ubuntu nodes on Docker, Calico 3.22 from manifests
with the Kubernetes datastore, IPIP pool). `operator` is a newer cluster whose Calico is managed by the Tigera
operator (Installation `default`, namespace `calico-system`). `k8s-1.30` is a containerd cluster on Kubernetes 1.30
with Calico from manifests. `etcd` is `default` with Calico's datastore in etcd: no Calico objects in the
Kubernetes API — they live in `kube.calico_etcd` (a `CalicoEtcdStore`).

Objects are seeded fully formed (the defaults the API server would add included), so seeding works with or
without the controllers' admission hooks installed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import yaml

from .etcd import ETCD_ENDPOINTS, CalicoEtcdStore
from .nodeauth import NODE_RULES
from .resources import CALICO_CRDS, CALICO_GROUP, OPERATOR_CRDS, Registry, ResourceType, crd_for
from .store import Store

CONTROL_PLANE_IP = "172.16.3.170"
WORKER_IP = "172.16.3.171"
POD_CIDR = "192.168.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
DNS_IP = "10.96.0.10"
API_PORT = 6443


@dataclass(frozen=True)
class Scenario:
    """What distinguishes one scenario's cluster."""

    name: str
    kube_version: str
    git_commit: str
    build_date: str
    go_version: str
    runtime: str            # containerRuntimeVersion
    os_image: str
    kernel: str
    calico_version: str
    datastore: str          # "kubernetes" | "etcdv3"
    operator: bool
    coredns_version: str
    etcd_version: str
    description: str

    @property
    def minor(self) -> int:
        return int(self.kube_version.lstrip("v").split(".")[1])

    @property
    def registry(self) -> str:
        return "k8s.gcr.io" if self.minor < 25 else "registry.k8s.io"

    @property
    def engine(self) -> str:
        return self.runtime.split("://", 1)[0]

    @property
    def calico_ns(self) -> str:
        return "calico-system" if self.operator else "kube-system"


SCENARIOS: dict[str, Scenario] = {
    "default": Scenario(
        "default", "v1.22.6", "f59f5c2fda36e4036b49ec027e556a15456108f0", "2022-01-19T17:26:47Z", "go1.16.12",
        "docker://20.10.13", "Ubuntu 20.04.2 LTS", "5.4.0-77-generic", "v3.22.1", "kubernetes", False,
        "v1.8.4", "3.5.0-0", "The runbook's cluster: kubeadm 1.22.6, Docker, Calico 3.22 manifests, IPIP pool."),
    "operator": Scenario(
        "operator", "v1.29.6", "062798d53d83265b9e05f14d85198f74362adaca", "2024-06-11T20:17:07Z", "go1.21.11",
        "containerd://1.7.13", "Ubuntu 22.04.4 LTS", "5.15.0-105-generic", "v3.29.1", "kubernetes", True,
        "v1.11.1", "3.5.12-0", "Calico managed by the Tigera operator (Installation default, calico-system)."),
    "k8s-1.30": Scenario(
        "k8s-1.30", "v1.30.2", "39683505b630ff2121012f3c5b16215a1449d5ed", "2024-06-11T20:21:00Z", "go1.22.4",
        "containerd://1.7.19", "Ubuntu 22.04.4 LTS", "5.15.0-112-generic", "v3.28.0", "kubernetes", False,
        "v1.11.1", "3.5.12-0", "Kubernetes 1.30 on containerd with Calico 3.28 manifests."),
    "etcd": Scenario(
        "etcd", "v1.22.6", "f59f5c2fda36e4036b49ec027e556a15456108f0", "2022-01-19T17:26:47Z", "go1.16.12",
        "docker://20.10.13", "Ubuntu 20.04.2 LTS", "5.4.0-77-generic", "v3.22.1", "etcdv3", False,
        "v1.8.4", "3.5.0-0", "The runbook's cluster with Calico's datastore in etcd (calicoctl only)."),
}

# Calico CRDs a manifest install registers besides the ones the lab models (served, mostly empty).
EXTRA_CALICO_CRDS: tuple[ResourceType, ...] = tuple(
    ResourceType(CALICO_GROUP, "v1", plural, kind, namespaced)
    for plural, kind, namespaced in (
        ("bgpconfigurations", "BGPConfiguration", False), ("bgppeers", "BGPPeer", False),
        ("caliconodestatuses", "CalicoNodeStatus", False), ("globalnetworksets", "GlobalNetworkSet", False),
        ("hostendpoints", "HostEndpoint", False), ("ipamhandles", "IPAMHandle", False),
        ("ipreservations", "IPReservation", False),
        ("kubecontrollersconfigurations", "KubeControllersConfiguration", False),
        ("networksets", "NetworkSet", True)))


def scenario(name: str) -> Scenario:
    """The Scenario called `name` (KeyError listing the known ones otherwise)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


def version_for(name: str) -> dict[str, str]:
    """The `/version` body of the scenario's API server."""
    sc = scenario(name)
    major, minor = sc.kube_version.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": sc.kube_version, "gitCommit": sc.git_commit,
            "gitTreeState": "clean", "buildDate": sc.build_date, "goVersion": sc.go_version, "compiler": "gc",
            "platform": "linux/amd64"}


# --- seeding -------------------------------------------------------------------------------------------------------
def seed(store: Store, registry: Registry, name: str) -> None:
    """Create the scenario's objects in `store` and register its CRD-backed types in `registry`."""
    sc = scenario(name)
    s = _Seeder(store, registry, sc)
    s.namespaces()
    s.nodes()
    s.kubeadm()
    s.rbac()
    s.core_services()
    s.coredns()
    s.kube_proxy()
    s.control_plane_pods()
    s.leases()
    if sc.operator:
        s.operator()
    else:
        s.calico_manifests()
    if sc.datastore == "kubernetes":
        s.calico_crds()
        s.calico_objects(store, registry)


def calico_etcd_for(name: str) -> CalicoEtcdStore | None:
    """A seeded Calico etcd datastore for an etcdv3 scenario, else None."""
    sc = scenario(name)
    if sc.datastore != "etcdv3":
        return None
    etcd = CalicoEtcdStore()
    _Seeder(etcd, etcd.registry, sc).calico_objects(etcd, etcd.registry)
    return etcd


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "lab:" + "/".join(parts)))


def _hex(n: int, *parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


class _Seeder:
    def __init__(self, store: Store, registry: Registry, sc: Scenario) -> None:
        self.store, self.registry, self.sc = store, registry, sc

    def rt(self, group: str, plural: str) -> ResourceType:
        rt = self.registry.get(group, plural)
        assert rt is not None, (group, plural)
        return rt

    def put(self, group: str, plural: str, obj: dict, namespace: str | None = None) -> dict:
        """Create `obj` unless an object of that name exists (the API server bootstraps some itself)."""
        rt = self.rt(group, plural)
        md = obj.get("metadata") or {}
        existing = self.store.try_get(rt, namespace or md.get("namespace"), md.get("name", ""))
        if existing is not None:
            return existing
        return self.store.create(rt, obj, namespace)

    # --- namespaces, nodes -------------------------------------------------------------------------------------
    def namespaces(self) -> None:
        names = ["default", "kube-system", "kube-public", "kube-node-lease"]
        if self.sc.operator:
            names += ["tigera-operator", "calico-system"]
        for n in names:
            labels = {"kubernetes.io/metadata.name": n}
            if n == "tigera-operator":
                labels["name"] = "tigera-operator"
            if n == "calico-system":
                labels.update({"name": "calico-system", "pod-security.kubernetes.io/enforce": "privileged",
                               "pod-security.kubernetes.io/enforce-version": "latest"})
            self.put("", "namespaces", {"metadata": {"name": n, "labels": labels},
                                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})

    def node_images(self, control_plane: bool) -> list[dict]:
        sc, reg = self.sc, self.sc.registry
        names = [f"{reg}/kube-proxy:{sc.kube_version}", f"{reg}/coredns/coredns:{sc.coredns_version}",
                 f"{reg}/pause:{'3.5' if sc.minor < 25 else '3.9'}"]
        names += [f"docker.io/calico/{c}:{sc.calico_version}" for c in
                  ("node", "cni", "kube-controllers", "pod2daemon-flexvol", "typha", "csi", "node-driver-registrar")]
        if sc.operator:
            names.append("quay.io/tigera/operator:v1.36.2")
        if control_plane:
            names += [f"{reg}/{c}:{sc.kube_version}" for c in
                      ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
            names.append(f"{reg}/etcd:{sc.etcd_version}")
        out = []
        for i, n in enumerate(names):
            repo = n.rsplit(":", 1)[0]
            short = repo.removeprefix("docker.io/")
            out.append({"names": [f"{short}@sha256:{_hex(64, n)}", n.removeprefix("docker.io/")],
                        "sizeBytes": 10_000_000 + int(_hex(6, n), 16) * 17})
        return out

    def node(self, name: str, ip: str, control_plane: bool, pod_cidr: str) -> dict:
        sc = self.sc
        labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        taints = []
        if control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
            labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
            if sc.minor < 24:
                labels["node-role.kubernetes.io/master"] = ""
                taints.append({"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"})
            else:
                taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
        socket = "/var/run/dockershim.sock" if sc.engine == "docker" else "unix:///var/run/containerd/containerd.sock"
        from .controllers.kubelet import node_conditions
        from .store import now_iso

        now = now_iso()
        conds = [{"type": "NetworkUnavailable", "status": "False", "reason": "CalicoIsUp",
                  "message": "Calico is running on this node", "lastHeartbeatTime": now,
                  "lastTransitionTime": now}]
        conds += node_conditions(ready=True, now=now, message="kubelet is posting ready status"
                                 + (". AppArmor enabled" if sc.minor < 28 else ""))
        capacity = {"cpu": "4", "ephemeral-storage": "101430960Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                    "memory": "8148084Ki", "pods": "110"}
        allocatable = dict(capacity, **{"ephemeral-storage": "93478772582", "memory": "8045684Ki"})
        return {
            "metadata": {"name": name, "labels": labels, "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": socket,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], **({"taints": taints} if taints else {})},
            "status": {
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "allocatable": allocatable, "capacity": capacity, "conditions": conds,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "images": self.node_images(control_plane),
                "nodeInfo": {"architecture": "amd64", "bootID": _uid("boot", sc.name, name),
                             "containerRuntimeVersion": sc.runtime, "kernelVersion": sc.kernel,
                             "kubeProxyVersion": sc.kube_version, "kubeletVersion": sc.kube_version,
                             "machineID": _hex(32, "machine", name), "operatingSystem": "linux",
                             "osImage": sc.os_image, "systemUUID": _uid("system", name)},
            },
        }

    def nodes(self) -> None:
        self.put("", "nodes", self.node("k8s-m", CONTROL_PLANE_IP, True, "192.168.0.0/24"))
        self.put("", "nodes", self.node("k8s-lw", WORKER_IP, False, "192.168.1.0/24"))

    def leases(self) -> None:
        from .store import now_iso
        if self.registry.get("coordination.k8s.io", "leases") is None:
            return
        for n in ("k8s-m", "k8s-lw"):
            self.put("coordination.k8s.io", "leases", {
                "metadata": {"name": n, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": n, "leaseDurationSeconds": 40, "renewTime": now_iso().replace(
                    "Z", ".000000Z")}}, "kube-node-lease")

    # --- kubeadm ConfigMaps ---------------------------------------------------------------------------------------
    def cluster_configuration(self) -> dict:
        sc = self.sc
        return {
            "apiServer": {"extraArgs": {"authorization-mode": "Node,RBAC"}, "timeoutForControlPlane": "4m0s"},
            "apiVersion": "kubeadm.k8s.io/v1beta3", "certificatesDir": "/etc/kubernetes/pki",
            "clusterName": "kubernetes", "controlPlaneEndpoint": f"{CONTROL_PLANE_IP}:{API_PORT}",
            "controllerManager": {}, "dns": {}, "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
            "imageRepository": sc.registry, "kind": "ClusterConfiguration", "kubernetesVersion": sc.kube_version,
            "networking": {"dnsDomain": "cluster.local", "podSubnet": POD_CIDR, "serviceSubnet": SERVICE_CIDR},
            "scheduler": {},
        }

    def kubeadm(self) -> None:
        sc = self.sc
        cm = lambda ns, name, data, **meta: self.put("", "configmaps", {  # noqa: E731
            "metadata": {"name": name, "namespace": ns, **meta}, "data": data}, ns)
        cm("kube-system", "kubeadm-config",
           {"ClusterConfiguration": yaml.safe_dump(self.cluster_configuration(), sort_keys=True)})
        kubelet_cfg = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"cacheTTL": "0s", "enabled": True},
                               "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
            "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s",
                                                             "cacheUnauthorizedTTL": "0s"}},
            "cgroupDriver": "systemd", "clusterDNS": [DNS_IP], "clusterDomain": "cluster.local",
            "rotateCertificates": True, "staticPodPath": "/etc/kubernetes/manifests",
        }
        kubelet_name = f"kubelet-config-1.{sc.minor}" if sc.minor < 24 else "kubelet-config"
        cm("kube-system", kubelet_name, {"kubelet": yaml.safe_dump(kubelet_cfg, sort_keys=True)},
           annotations={"kubeadm.kubernetes.io/component-config.hash": "sha256:" + _hex(64, "kubelet", sc.name)})
        proxy_cfg = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "bindAddress": "0.0.0.0", "clusterCIDR": POD_CIDR, "mode": "",
            "clientConnection": {"kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf"},
        }
        cm("kube-system", "kube-proxy", {
            "config.conf": yaml.safe_dump(proxy_cfg, sort_keys=True),
            "kubeconfig.conf": _kubeconfig_yaml(ca_data="", user_block={"tokenFile":
                                                                      "/var/run/secrets/kubernetes.io/"
                                                                      "serviceaccount/token"})},
           labels={"app": "kube-proxy"})
        cm("kube-public", "cluster-info", {"kubeconfig": _kubeconfig_yaml(ca_data="", user_block=None)})
        cm("kube-system", "coredns", {"Corefile": COREFILE})
        cm("kube-system", "extension-apiserver-authentication", {"client-ca-file": ""})

    # --- RBAC ------------------------------------------------------------------------------------------------------
    def rbac(self) -> None:
        g = "rbac.authorization.k8s.io"
        ver = self.sc.minor
        for name, rules in CLUSTER_ROLES.items():
            self.put(g, "clusterroles", {"metadata": {"name": name, **(
                {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}} if name.startswith(
                    ("system:", "cluster-admin", "admin", "edit", "view")) else {})}, "rules": rules})
        for name, role, subjects in CLUSTER_ROLE_BINDINGS:
            self.put(g, "clusterrolebindings", {"metadata": {"name": name},
                                                "roleRef": {"apiGroup": g, "kind": "ClusterRole", "name": role},
                                                **({"subjects": subjects} if subjects else {})})
        kubelet_cm = f"kubelet-config-1.{ver}" if ver < 24 else "kubelet-config"
        roles = [("kube-system", "kube-proxy", [_rule([""], ["configmaps"], ["get"], ["kube-proxy"])],
                  [_group("system:bootstrappers:kubeadm:default-node-token")]),
                 ("kube-system", "kubeadm:nodes-kubeadm-config", [_rule([""], ["configmaps"], ["get"],
                                                                        ["kubeadm-config"])],
                  [_group("system:bootstrappers:kubeadm:default-node-token"), _group("system:nodes")]),
                 ("kube-system", f"kubeadm:{kubelet_cm}", [_rule([""], ["configmaps"], ["get"], [kubelet_cm])],
                  [_group("system:nodes"), _group("system:bootstrappers:kubeadm:default-node-token")]),
                 ("kube-public", "kubeadm:bootstrap-signer-clusterinfo",
                  [_rule([""], ["configmaps"], ["get"], ["cluster-info"])],
                  [{"apiGroup": g, "kind": "User", "name": "system:anonymous"}])]
        for ns, name, rules, subjects in roles:
            self.put(g, "roles", {"metadata": {"name": name, "namespace": ns}, "rules": rules}, ns)
            self.put(g, "rolebindings", {"metadata": {"name": name, "namespace": ns},
                                         "roleRef": {"apiGroup": g, "kind": "Role", "name": name},
                                         "subjects": subjects}, ns)
        for sa in KUBE_SYSTEM_SERVICE_ACCOUNTS:
            self.put("", "serviceaccounts", {"metadata": {"name": sa, "namespace": "kube-system"}}, "kube-system")
        for ns in ("default", "kube-public", "kube-node-lease"):
            self.put("", "serviceaccounts", {"metadata": {"name": "default", "namespace": ns}}, ns)

    # --- Services ---------------------------------------------------------------------------------------------------
    def service(self, ns: str, name: str, ip: str, ports: list[dict], selector: dict | None,
                labels: dict | None = None, annotations: dict | None = None) -> None:
        for p in ports:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p["port"])
        spec: dict[str, Any] = {"clusterIP": ip, "clusterIPs": [ip], "ports": ports, "type": "ClusterIP",
                                "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                                "internalTrafficPolicy": "Cluster"}
        if selector:
            spec["selector"] = selector
        md: dict[str, Any] = {"name": name, "namespace": ns}
        if labels:
            md["labels"] = labels
        if annotations:
            md["annotations"] = annotations
        self.put("", "services", {"metadata": md, "spec": spec, "status": {"loadBalancer": {}}}, ns)

    def core_services(self) -> None:
        self.service("default", "kubernetes", "10.96.0.1",
                     [{"name": "https", "port": 443, "targetPort": API_PORT}], None,
                     labels={"component": "apiserver", "provider": "kubernetes"})
        self.put("", "endpoints", {"metadata": {"name": "kubernetes", "namespace": "default",
                                                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                                   "subsets": [{"addresses": [{"ip": CONTROL_PLANE_IP}],
                                                "ports": [{"name": "https", "port": API_PORT,
                                                           "protocol": "TCP"}]}]}, "default")
        self.service("kube-system", "kube-dns", DNS_IP,
                     [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53},
                      {"name": "metrics", "port": 9153}], {"k8s-app": "kube-dns"},
                     labels={"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                             "kubernetes.io/name": "CoreDNS"},
                     annotations={"prometheus.io/port": "9153", "prometheus.io/scrape": "true"})

    # --- workloads -------------------------------------------------------------------------------------------------
    def deployment(self, ns: str, name: str, labels: dict, pod_spec: dict, replicas: int = 1,
                   meta_labels: dict | None = None) -> None:
        from .controllers.admission import admit_workload
        obj = {"metadata": {"name": name, "namespace": ns, "labels": meta_labels or labels,
                            "annotations": {"deployment.kubernetes.io/revision": "1"}},
               "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}
        self.put("apps", "deployments", admit_workload("Deployment")("CREATE", obj, None), ns)

    def daemonset(self, ns: str, name: str, labels: dict, pod_spec: dict) -> None:
        from .controllers.admission import admit_workload
        obj = {"metadata": {"name": name, "namespace": ns, "labels": labels,
                            "annotations": {"deprecated.daemonset.template.generation": "1"}},
               "spec": {"selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}
        self.put("apps", "daemonsets", admit_workload("DaemonSet")("CREATE", obj, None), ns)

    def coredns(self) -> None:
        sc = self.sc
        tolerations = [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                       {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        if sc.minor < 25:
            tolerations.insert(1, {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"})
        spec = {
            "priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
            "nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": tolerations, "dnsPolicy": "Default",
            "containers": [{
                "name": "coredns", "image": f"{sc.registry}/coredns/coredns:{sc.coredns_version}",
                "args": ["-conf", "/etc/coredns/Corefile"], "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                          {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                          {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}],
                "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
                "volumeMounts": [{"mountPath": "/etc/coredns", "name": "config-volume", "readOnly": True}]}],
            "volumes": [{"name": "config-volume", "configMap": {"name": "coredns", "defaultMode": 420,
                                                                 "items": [{"key": "Corefile",
                                                                            "path": "Corefile"}]}}],
        }
        self.deployment("kube-system", "coredns", {"k8s-app": "kube-dns"}, spec, replicas=2)

    def kube_proxy(self) -> None:
        sc = self.sc
        spec = {
            "hostNetwork": True, "priorityClassName": "system-node-critical", "serviceAccountName": "kube-proxy",
            "nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": "kube-proxy", "image": f"{sc.registry}/kube-proxy:{sc.kube_version}",
                "imagePullPolicy": "IfNotPresent",
                "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                            "--hostname-override=$(NODE_NAME)"],
                "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                         "fieldPath": "spec.nodeName"}}}],
                "securityContext": {"privileged": True}}],
        }
        self.daemonset("kube-system", "kube-proxy", {"k8s-app": "kube-proxy"}, spec)

    def control_plane_pods(self) -> None:
        sc, reg = self.sc, self.sc.registry
        node = self.store.get(self.rt("", "nodes"), None, "k8s-m")
        cmds = {
            "etcd": (f"{reg}/etcd:{sc.etcd_version}",
                     ["etcd", f"--advertise-client-urls=https://{CONTROL_PLANE_IP}:2379", "--data-dir=/var/lib/etcd",
                      f"--listen-client-urls=https://127.0.0.1:2379,https://{CONTROL_PLANE_IP}:2379", "--name=k8s-m"]),
            "kube-apiserver": (f"{reg}/kube-apiserver:{sc.kube_version}",
                               ["kube-apiserver", f"--advertise-address={CONTROL_PLANE_IP}",
                                "--allow-privileged=true", "--authorization-mode=Node,RBAC",
                                "--client-ca-file=/etc/kubernetes/pki/ca.crt",
                                "--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
                                "--etcd-servers=https://127.0.0.1:2379", f"--secure-port={API_PORT}",
                                f"--service-cluster-ip-range={SERVICE_CIDR}",
                                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                                "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt"]),
            "kube-controller-manager": (f"{reg}/kube-controller-manager:{sc.kube_version}",
                                        ["kube-controller-manager", "--allocate-node-cidrs=true",
                                         f"--cluster-cidr={POD_CIDR}", "--cluster-name=kubernetes",
                                         "--controllers=*,bootstrapsigner,tokencleaner", "--leader-elect=true",
                                         f"--service-cluster-ip-range={SERVICE_CIDR}",
                                         "--use-service-account-credentials=true"]),
            "kube-scheduler": (f"{reg}/kube-scheduler:{sc.kube_version}",
                               ["kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf",
                                "--leader-elect=true"]),
        }
        for comp, (image, command) in cmds.items():
            ann = {"kubernetes.io/config.hash": _hex(32, comp), "kubernetes.io/config.mirror": _hex(32, comp),
                   "kubernetes.io/config.seen": "2022-03-10T08:00:00.000000000Z",
                   "kubernetes.io/config.source": "file"}
            if comp == "kube-apiserver":
                ann["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"] = \
                    f"{CONTROL_PLANE_IP}:{API_PORT}"
            if comp == "etcd":
                ann["kubeadm.kubernetes.io/etcd.advertise-client-urls"] = f"https://{CONTROL_PLANE_IP}:2379"
            pod = {"metadata": {"name": f"{comp}-k8s-m", "namespace": "kube-system",
                                "labels": {"component": comp, "tier": "control-plane"}, "annotations": ann,
                                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "k8s-m",
                                                     "uid": node["metadata"]["uid"], "controller": True}]},
                   "spec": {"nodeName": "k8s-m", "hostNetwork": True, "priority": 2000001000,
                            "priorityClassName": "system-node-critical",
                            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
                            "containers": [{"name": comp, "image": image, "command": command,
                                            "imagePullPolicy": "IfNotPresent"}]}}
            from .controllers.admission import admit_pod
            self.put("", "pods", admit_pod("CREATE", pod, None), "kube-system")

    # --- Calico ----------------------------------------------------------------------------------------------------
    def calico_manifests(self) -> None:
        sc = self.sc
        etcd = sc.datastore == "etcdv3"
        data = {"typha_service_name": "none", "calico_backend": "bird", "veth_mtu": "0",
                "cni_network_config": json.dumps(CNI_CONFIG, indent=2)}
        if etcd:
            data.update({"etcd_endpoints": ETCD_ENDPOINTS, "etcd_ca": "/calico-secrets/etcd-ca",
                         "etcd_cert": "/calico-secrets/etcd-cert", "etcd_key": "/calico-secrets/etcd-key"})
            self.put("", "secrets", {"metadata": {"name": "calico-etcd-secrets", "namespace": "kube-system"},
                                     "type": "Opaque", "data": {}}, "kube-system")
        self.put("", "configmaps", {"metadata": {"name": "calico-config", "namespace": "kube-system"},
                                    "data": data}, "kube-system")
        for sa in ("calico-node", "calico-kube-controllers"):
            self.put("", "serviceaccounts", {"metadata": {"name": sa, "namespace": "kube-system"}}, "kube-system")
        self.calico_node_ds("kube-system", etcd)
        self.calico_kube_controllers("kube-system", etcd)

    def calico_node_ds(self, ns: str, etcd: bool) -> None:
        sc = self.sc
        cm = lambda key: {"valueFrom": {"configMapKeyRef": {"name": "calico-config", "key": key}}}  # noqa: E731
        env = []
        if etcd:
            env += [{"name": "ETCD_ENDPOINTS", **cm("etcd_endpoints")}, {"name": "ETCD_CA_CERT_FILE", **cm("etcd_ca")},
                    {"name": "ETCD_KEY_FILE", **cm("etcd_key")}, {"name": "ETCD_CERT_FILE", **cm("etcd_cert")}]
        else:
            env += [{"name": "DATASTORE_TYPE", "value": "kubernetes"}]
        env += [{"name": "WAIT_FOR_DATASTORE", "value": "true"},
                {"name": "NODENAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                {"name": "CALICO_NETWORKING_BACKEND", **cm("calico_backend")},
                {"name": "CLUSTER_TYPE", "value": "k8s,bgp"}, {"name": "IP", "value": "autodetect"},
                {"name": "CALICO_IPV4POOL_IPIP", "value": "Always"},
                {"name": "CALICO_IPV4POOL_VXLAN", "value": "Never"},
                {"name": "FELIX_IPINIPMTU", **cm("veth_mtu")}, {"name": "FELIX_VXLANMTU", **cm("veth_mtu")},
                {"name": "FELIX_WIREGUARDMTU", **cm("veth_mtu")},
                {"name": "CALICO_DISABLE_FILE_LOGGING", "value": "true"},
                {"name": "FELIX_DEFAULTENDPOINTTOHOSTACTION", "value": "ACCEPT"},
                {"name": "FELIX_IPV6SUPPORT", "value": "false"}, {"name": "FELIX_HEALTHENABLED", "value": "true"}]
        img = lambda c: f"docker.io/calico/{c}:{sc.calico_version}"  # noqa: E731
        spec = {
            "hostNetwork": True, "priorityClassName": "system-node-critical", "serviceAccountName": "calico-node",
            "nodeSelector": {"kubernetes.io/os": "linux"}, "terminationGracePeriodSeconds": 0,
            "tolerations": [{"effect": "NoSchedule", "operator": "Exists"},
                            {"key": "CriticalAddonsOnly", "operator": "Exists"},
                            {"effect": "NoExecute", "operator": "Exists"}],
            "initContainers": [
                {"name": "upgrade-ipam", "image": img("cni"), "command": ["/opt/cni/bin/calico-ipam", "-upgrade"]},
                {"name": "install-cni", "image": img("cni"), "command": ["/opt/cni/bin/install"]},
                {"name": "flexvol-driver", "image": img("pod2daemon-flexvol")}],
            "containers": [{"name": "calico-node", "image": img("node"), "env": env,
                            "resources": {"requests": {"cpu": "250m"}}, "securityContext": {"privileged": True}}],
        }
        self.daemonset(ns, "calico-node", {"k8s-app": "calico-node"}, spec)

    def calico_kube_controllers(self, ns: str, etcd: bool) -> None:
        sc = self.sc
        tolerations = [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                       {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        if sc.minor < 25:
            tolerations.insert(1, {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"})
        env = [{"name": "ENABLED_CONTROLLERS", "value": "node" if not etcd else
                "policy,namespace,serviceaccount,workloadendpoint,node"},
               {"name": "DATASTORE_TYPE", "value": "kubernetes" if not etcd else "etcdv3"}]
        spec = {"priorityClassName": "system-cluster-critical", "serviceAccountName": "calico-kube-controllers",
                "nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": tolerations,
                "containers": [{"name": "calico-kube-controllers",
                                "image": f"docker.io/calico/kube-controllers:{sc.calico_version}", "env": env}]}
        self.deployment(ns, "calico-kube-controllers", {"k8s-app": "calico-kube-controllers"}, spec)

    def operator(self) -> None:
        sc = self.sc
        for rt in OPERATOR_CRDS:
            self.registry.add(rt)
            self.put("apiextensions.k8s.io", "customresourcedefinitions", crd_for(rt))
        self.put("", "serviceaccounts", {"metadata": {"name": "tigera-operator", "namespace": "tigera-operator"}},
                 "tigera-operator")
        op_spec = {"hostNetwork": True, "serviceAccountName": "tigera-operator", "dnsPolicy": "ClusterFirstWithHostNet",
                   "nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": [{"operator": "Exists",
                                                                                   "effect": "NoExecute"},
                                                                                  {"operator": "Exists",
                                                                                   "effect": "NoSchedule"}],
                   "containers": [{"name": "tigera-operator", "image": "quay.io/tigera/operator:v1.36.2",
                                   "command": ["operator"],
                                   "env": [{"name": "WATCH_NAMESPACE", "value": ""},
                                           {"name": "OPERATOR_NAME", "value": "tigera-operator"},
                                           {"name": "TIGERA_OPERATOR_INIT_IMAGE_VERSION", "value": "v1.36.2"}]}]}
        self.deployment("tigera-operator", "tigera-operator", {"name": "tigera-operator"}, op_spec,
                        meta_labels={"k8s-app": "tigera-operator"})
        self.put(OPERATOR_CRDS[0].group, "installations", {
            "metadata": {"name": "default"},
            "spec": {"calicoNetwork": {"bgp": "Enabled", "hostPorts": "Enabled", "linuxDataplane": "Iptables",
                                       "multiInterfaceMode": "None", "nodeAddressAutodetectionV4": {"firstFound": True},
                                       "ipPools": [{"name": "default-ipv4-ippool", "blockSize": 26, "cidr": POD_CIDR,
                                                    "encapsulation": "IPIP", "natOutgoing": "Enabled",
                                                    "nodeSelector": "all()"}]},
                     "cni": {"type": "Calico", "ipam": {"type": "Calico"}}, "controlPlaneReplicas": 2,
                     "flexVolumePath": "/usr/libexec/kubernetes/kubelet-plugins/volume/exec/",
                     "kubeletVolumePluginPath": "/var/lib/kubelet", "nodeUpdateStrategy": {
                         "rollingUpdate": {"maxUnavailable": 1}, "type": "RollingUpdate"},
                     "nonPrivileged": "Disabled", "variant": "Calico"}})
        for sa in ("calico-node", "calico-kube-controllers", "calico-typha", "calico-cni-plugin", "csi-node-driver"):
            self.put("", "serviceaccounts", {"metadata": {"name": sa, "namespace": "calico-system"}}, "calico-system")
        self.calico_node_ds("calico-system", False)
        self.calico_kube_controllers("calico-system", False)
        typha = {"hostNetwork": True, "serviceAccountName": "calico-typha", "nodeSelector": {"kubernetes.io/os": "linux"},
                 "tolerations": [{"operator": "Exists", "effect": "NoSchedule"},
                                 {"operator": "Exists", "effect": "NoExecute"}],
                 "containers": [{"name": "calico-typha", "image": f"docker.io/calico/typha:{sc.calico_version}",
                                 "ports": [{"containerPort": 5473, "name": "calico-typha", "protocol": "TCP"}]}]}
        self.deployment("calico-system", "calico-typha", {"k8s-app": "calico-typha"}, typha)

    def calico_crds(self) -> None:
        for rt in CALICO_CRDS + EXTRA_CALICO_CRDS:
            self.registry.add(rt)
            crd = crd_for(rt)
            crd["metadata"]["labels"] = {}
            self.put("apiextensions.k8s.io", "customresourcedefinitions", crd)

    def calico_objects(self, store: Store, registry: Registry) -> None:
        """Pools, FelixConfiguration, ClusterInformation (and KubeControllersConfiguration when served)."""
        sc = self.sc
        put = lambda plural, obj: store.create(registry.get(CALICO_GROUP, plural), obj)  # noqa: E731
        if not sc.operator:  # the operator renders its pools itself
            put("ippools", {"metadata": {"name": "default-ipv4-ippool"},
                            "spec": {"allowedUses": ["Workload", "Tunnel"], "blockSize": 26, "cidr": POD_CIDR,
                                     "ipipMode": "Always", "natOutgoing": True, "nodeSelector": "all()",
                                     "vxlanMode": "Never"}})
        felix: dict[str, Any] = {"bpfLogLevel": "", "logSeverityScreen": "Info", "reportingInterval": "0s"}
        if sc.operator:
            felix.update({"bpfConnectTimeLoadBalancing": "TCP", "bpfHostNetworkedNATWithoutCTLB": "Enabled",
                          "floatingIPs": "Disabled", "healthPort": 9099, "vxlanPort": 4789, "vxlanVNI": 4096})
        else:
            felix["ipipEnabled"] = True
            if sc.minor >= 25:
                felix.update({"bpfConnectTimeLoadBalancing": "TCP", "bpfHostNetworkedNATWithoutCTLB": "Enabled",
                              "floatingIPs": "Disabled"})
        put("felixconfigurations", {"metadata": {"name": "default"}, "spec": felix})
        cluster_type = ("typha,kdd,k8s,operator,bgp,kubeadm" if sc.operator else
                        "k8s,bgp,kubeadm" if sc.datastore == "etcdv3" else "k8s,bgp,kubeadm,kdd")
        put("clusterinformations", {"metadata": {"name": "default"},
                                    "spec": {"calicoVersion": sc.calico_version, "clusterGUID": _hex(32, "guid", sc.name),
                                             "clusterType": cluster_type, "datastoreReady": True}})
        kcc = registry.get(CALICO_GROUP, "kubecontrollersconfigurations")
        if kcc is not None:
            store.create(kcc, {"metadata": {"name": "default"},
                               "spec": {"controllers": {"node": {"leakGracePeriod": "15m0s",
                                                                 "reconcilerPeriod": "5m0s",
                                                                 "syncLabels": "Enabled"}},
                                        "etcdV3CompactionPeriod": "10m0s", "healthChecks": "Enabled",
                                        "logSeverityScreen": "Info"}})


def _kubeconfig_yaml(ca_data: str, user_block: dict | None) -> str:
    cfg: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "" if user_block is None else "default",
                      "cluster": {"certificate-authority-data": ca_data,
                                  "server": f"https://{CONTROL_PLANE_IP}:{API_PORT}"}}],
        "contexts": [] if user_block is None else [{"name": "default", "context": {
            "cluster": "default", "namespace": "default", "user": "default"}}],
        "current-context": "" if user_block is None else "default", "preferences": {},
        "users": [] if user_block is None else [{"name": "default", "user": user_block}],
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def fill_ca(store: Store, registry: Registry, ca_pem: str) -> None:
    """Put the lab CA into the kubeconfigs seeded in cluster-info and kube-proxy (the seed has no CA yet)."""
    import base64
    cm_rt = registry.get("", "configmaps")
    data = base64.b64encode(ca_pem.encode()).decode()
    for ns, name, key in (("kube-public", "cluster-info", "kubeconfig"), ("kube-system", "kube-proxy",
                                                                          "kubeconfig.conf")):
        cm = store.try_get(cm_rt, ns, name)
        if cm is None or key not in (cm.get("data") or {}):
            continue
        cfg = yaml.safe_load(cm["data"][key]) or {}
        changed = False
        for c in cfg.get("clusters") or []:
            if not c["cluster"].get("certificate-authority-data"):
                c["cluster"]["certificate-authority-data"] = data
                changed = True
        if changed:
            def put(o: dict, text: str = yaml.safe_dump(cfg, sort_keys=False), key: str = key) -> None:
                o["data"][key] = text
            store.mutate(cm_rt, ns, name, put)


COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""

CNI_CONFIG = {
    "name": "k8s-pod-network", "cniVersion": "0.3.1",
    "plugins": [{"type": "calico", "log_level": "info", "log_file_path": "/var/log/calico/cni/cni.log",
                 "datastore_type": "kubernetes", "nodename": "__KUBERNETES_NODE_NAME__", "mtu": "__CNI_MTU__",
                 "ipam": {"type": "calico-ipam"}, "policy": {"type": "k8s"},
                 "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}},
                {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
                {"type": "bandwidth", "capabilities": {"bandwidth": True}}],
}

KUBE_SYSTEM_SERVICE_ACCOUNTS = [
    "attachdetach-controller", "bootstrap-signer", "certificate-controller", "clusterrole-aggregation-controller",
    "coredns", "cronjob-controller", "daemon-set-controller", "default", "deployment-controller",
    "disruption-controller", "endpoint-controller", "endpointslice-controller", "endpointslicemirroring-controller",
    "ephemeral-volume-controller", "expand-controller", "generic-garbage-collector", "horizontal-pod-autoscaler",
    "job-controller", "kube-proxy", "namespace-controller", "node-controller", "persistent-volume-binder",
    "pod-garbage-collector", "pv-protection-controller", "pvc-protection-controller", "replicaset-controller",
    "replication-controller", "resourcequota-controller", "root-ca-cert-publisher", "service-account-controller",
    "service-controller", "statefulset-controller", "token-cleaner", "ttl-after-finished-controller",
    "ttl-controller",
]


def _rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict:
    r: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        r["resourceNames"] = names
    return r


def _group(name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def _sa(ns: str, name: str) -> dict:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_CALICO_READ = ["globalfelixconfigs", "felixconfigurations", "bgppeers", "globalbgpconfigs", "bgpconfigurations",
                "ippools", "ipreservations", "ipamblocks", "globalnetworkpolicies", "globalnetworksets",
                "networkpolicies", "networksets", "clusterinformations", "hostendpoints", "blockaffinities",
                "caliconodestatuses"]

CLUSTER_ROLES: dict[str, list[dict]] = {
    "cluster-admin": [_rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "admin": [_rule(["", "apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io"], ["*"], _READ + _WRITE)],
    "edit": [_rule(["", "apps", "batch", "networking.k8s.io"],
                   ["pods", "pods/exec", "pods/log", "services", "endpoints", "configmaps", "secrets",
                    "serviceaccounts", "deployments", "daemonsets", "replicasets", "networkpolicies", "events"],
                   _READ + _WRITE)],
    "view": [_rule(["", "apps", "batch", "networking.k8s.io"],
                   ["pods", "pods/log", "services", "endpoints", "configmaps", "serviceaccounts", "deployments",
                    "daemonsets", "replicasets", "networkpolicies", "events", "namespaces"], _READ)],
    "system:basic-user": [_rule(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                                ["create"])],
    "system:discovery": [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                              "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                          "verbs": ["get"]}],
    "system:public-info-viewer": [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                                   "verbs": ["get"]}],
    "system:node-bootstrapper": [_rule(["certificates.k8s.io"], ["certificatesigningrequests"],
                                       ["create", "get", "list", "watch"])],
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": [
        _rule(["certificates.k8s.io"], ["certificatesigningrequests/nodeclient"], ["create"])],
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": [
        _rule(["certificates.k8s.io"], ["certificatesigningrequests/selfnodeclient"], ["create"])],
    "kubeadm:get-nodes": [_rule([""], ["nodes"], ["get"])],
    "system:node": list(NODE_RULES),
    "system:node-proxier": [_rule([""], ["endpoints", "services"], ["list", "watch"]),
                            _rule([""], ["nodes"], _READ), _rule(["", "events.k8s.io"], ["events"],
                                                                 ["create", "patch", "update"]),
                            _rule(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"])],
    "system:coredns": [_rule([""], ["endpoints", "services", "pods", "namespaces"], ["list", "watch"]),
                       _rule(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"])],
    "calico-node": [
        _rule([""], ["pods", "nodes", "namespaces"], ["get"]),
        _rule(["discovery.k8s.io"], ["endpointslices"], ["watch", "list"]),
        _rule([""], ["endpoints", "services"], ["watch", "list", "get"]),
        _rule([""], ["configmaps"], ["get"]),
        _rule([""], ["nodes/status"], ["patch", "update"]),
        _rule(["networking.k8s.io"], ["networkpolicies"], ["watch", "list"]),
        _rule([""], ["pods", "namespaces", "serviceaccounts"], ["list", "watch"]),
        _rule([""], ["pods/status"], ["patch"]),
        _rule(["crd.projectcalico.org"], _CALICO_READ, _READ),
        _rule(["crd.projectcalico.org"], ["ippools", "felixconfigurations", "clusterinformations"],
              ["create", "update"]),
        _rule(["crd.projectcalico.org"], ["caliconodestatuses"], ["update"]),
        _rule([""], ["nodes"], _READ),
        _rule(["crd.projectcalico.org"], ["bgpconfigurations", "bgppeers"], ["create", "update"]),
        _rule(["crd.projectcalico.org"], ["blockaffinities", "ipamblocks", "ipamhandles"],
              ["get", "list", "create", "update", "delete"]),
        _rule(["crd.projectcalico.org"], ["ipamconfigs"], ["get"]),
        _rule(["crd.projectcalico.org"], ["blockaffinities"], ["watch"]),
        _rule(["apps"], ["daemonsets"], ["get"]),
        _rule([""], ["serviceaccounts/token"], ["create"], ["calico-node"])],
    "calico-kube-controllers": [
        _rule([""], ["nodes"], ["watch", "list", "get"]),
        _rule([""], ["pods"], ["get", "list", "watch"]),
        _rule(["crd.projectcalico.org"], ["ipreservations"], ["list"]),
        _rule(["crd.projectcalico.org"], ["blockaffinities", "ipamblocks", "ipamhandles"],
              ["get", "list", "create", "update", "delete", "watch"]),
        _rule(["crd.projectcalico.org"], ["ippools"], ["list", "watch"]),
        _rule(["crd.projectcalico.org"], ["hostendpoints"], ["get", "list", "create", "update", "delete"]),
        _rule(["crd.projectcalico.org"], ["clusterinformations"], ["get", "list", "create", "update", "watch"]),
        _rule(["crd.projectcalico.org"], ["kubecontrollersconfigurations"], ["get", "create", "update", "watch"])],
}

CLUSTER_ROLE_BINDINGS: list[tuple[str, str, list[dict]]] = [
    ("cluster-admin", "cluster-admin", [_group("system:masters")]),
    ("system:basic-user", "system:basic-user", [_group("system:authenticated")]),
    ("system:discovery", "system:discovery", [_group("system:authenticated")]),
    ("system:public-info-viewer", "system:public-info-viewer",
     [_group("system:authenticated"), _group("system:unauthenticated")]),
    ("kubeadm:kubelet-bootstrap", "system:node-bootstrapper",
     [_group("system:bootstrappers:kubeadm:default-node-token")]),
    ("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
     [_group("system:bootstrappers:kubeadm:default-node-token")]),
    ("kubeadm:node-autoapprove-certificate-rotation",
     "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [_group("system:nodes")]),
    ("kubeadm:get-nodes", "kubeadm:get-nodes", [_group("system:bootstrappers:kubeadm:default-node-token")]),
    ("system:node", "system:node", []),  # kubeadm binds it to nobody: the Node authorizer decides for nodes
    ("kubeadm:node-proxier", "system:node-proxier", [_sa("kube-system", "kube-proxy")]),
    ("system:coredns", "system:coredns", [_sa("kube-system", "coredns")]),
    ("calico-node", "calico-node", [_sa("kube-system", "calico-node"), _sa("calico-system", "calico-node")]),
    ("calico-kube-controllers", "calico-kube-controllers",
     [_sa("kube-system", "calico-kube-controllers"), _sa("calico-system", "calico-kube-controllers")]),
]
