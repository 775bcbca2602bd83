"""The resource types the emulated API server serves: one registry read by discovery, routing and the store."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and what its objects are called."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = field(default=ALL_VERBS)

    @property
    def api_version(self) -> str:
        """`v1` for core, `group/version` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> tuple[str, str]:
        """(group, plural): how the store files objects of this type."""
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """`plural` for core, `plural.group` otherwise (as used in error messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _r(group, version, plural, kind, namespaced, short=(), sub=(), cats=()) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, tuple(short), tuple(sub), tuple(cats))


CALICO_GROUP = "crd.projectcalico.org"
TIGERA_OPERATOR_GROUP = "operator.tigera.io"

BUILTIN: tuple[ResourceType, ...] = (
    # core/v1
    _r("", "v1", "namespaces", "Namespace", False, ["ns"], ["status"]),
    _r("", "v1", "nodes", "Node", False, ["no"], ["status"]),
    _r("", "v1", "pods", "Pod", True, ["po"], ["status", "log", "exec", "eviction"], ["all"]),
    _r("", "v1", "services", "Service", True, ["svc"], ["status"], ["all"]),
    _r("", "v1", "endpoints", "Endpoints", True, ["ep"]),
    _r("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
    _r("", "v1", "secrets", "Secret", True),
    _r("", "v1", "serviceaccounts", "ServiceAccount", True, ["sa"], ["token"]),
    _r("", "v1", "events", "Event", True, ["ev"]),
    # apps/v1
    _r("apps", "v1", "deployments", "Deployment", True, ["deploy"], ["status", "scale"], ["all"]),
    _r("apps", "v1", "daemonsets", "DaemonSet", True, ["ds"], ["status"], ["all"]),
    _r("apps", "v1", "replicasets", "ReplicaSet", True, ["rs"], ["status"], ["all"]),
    _r("apps", "v1", "statefulsets", "StatefulSet", True, ["sts"], ["status", "scale"], ["all"]),
    # batch, policy, discovery (minimal entries until the per-version API surface table lands)
    _r("batch", "v1", "jobs", "Job", True, (), ["status"], ["all"]),
    _r("batch", "v1", "cronjobs", "CronJob", True, ["cj"], ["status"], ["all"]),
    _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"], ["status"]),
    _r("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    # networking, apiextensions, certificates, rbac
    _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ["netpol"]),
    _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
       ["crd", "crds"], ["status"]),
    _r("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False, ["csr"],
       ["status", "approval"]),
    _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _r("coordination.k8s.io", "v1", "leases", "Lease", True),
)

# Calico's Kubernetes-datastore CRDs (crd.projectcalico.org/v1) and the Tigera operator's Installation.
CALICO_CRDS: tuple[ResourceType, ...] = (
    _r(CALICO_GROUP, "v1", "ippools", "IPPool", False),
    _r(CALICO_GROUP, "v1", "felixconfigurations", "FelixConfiguration", False),
    _r(CALICO_GROUP, "v1", "ipamconfigs", "IPAMConfig", False),
    _r(CALICO_GROUP, "v1", "blockaffinities", "BlockAffinity", False),
    _r(CALICO_GROUP, "v1", "ipamblocks", "IPAMBlock", False),
    _r(CALICO_GROUP, "v1", "networkpolicies", "NetworkPolicy", True),
    _r(CALICO_GROUP, "v1", "globalnetworkpolicies", "GlobalNetworkPolicy", False),
    _r(CALICO_GROUP, "v1", "clusterinformations", "ClusterInformation", False),
)
OPERATOR_CRDS: tuple[ResourceType, ...] = (
    _r(TIGERA_OPERATOR_GROUP, "v1", "installations", "Installation", False),
)


class Registry:
    """Served resource types, indexed by (group, plural), by kind and by short name."""

    def __init__(self, types: tuple[ResourceType, ...] = BUILTIN) -> None:
        self._by_key: dict[tuple[str, str], ResourceType] = {}
        for t in types:
            self.add(t)

    def add(self, rt: ResourceType) -> None:
        """Serve a resource type (a CRD becoming established does this)."""
        self._by_key[rt.key] = rt

    def remove(self, group: str, plural: str) -> None:
        self._by_key.pop((group, plural), None)

    def get(self, group: str, plural: str) -> ResourceType | None:
        return self._by_key.get((group, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self._by_key.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        return list(self._by_key.values())

    def groups(self) -> dict[str, list[ResourceType]]:
        """Group name → its types (core under "")."""
        out: dict[str, list[ResourceType]] = {}
        for rt in self._by_key.values():
            out.setdefault(rt.group, []).append(rt)
        return out


def crd_for(rt: ResourceType) -> dict:
    """A CustomResourceDefinition object for a CRD-backed type, as `kubectl get crd` shows it."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{rt.plural}.{rt.group}"},
        "spec": {
            "group": rt.group,
            "names": {"kind": rt.kind, "listKind": rt.list_kind, "plural": rt.plural, "singular": rt.singular},
            "scope": "Namespaced" if rt.namespaced else "Cluster",
            "versions": [{"name": rt.version, "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
