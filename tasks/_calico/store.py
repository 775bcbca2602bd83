"""Reading and writing Calico's objects: through the Kubernetes API, or with calicoctl over SSH (etcd datastore).

Both stores offer the same small interface to `tasks/calico.py`: `read_pools()`, `read(kind, name)`,
`write(edit)` (raising `Conflict` when the object changed since it was read), `calico_version()`. Objects are plain
dicts as the API (or `calicoctl get -o yaml`) returns them.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from prefect_windows_nodes.tasks._calico.plan import ObjectEdit, felix_patch_json
from prefect_windows_nodes.tasks._kube.discovery import CALICO_CRD_GROUP, OPERATOR_GROUP, calico_api_version, strip_version


class Conflict(Exception):
    """The object changed (or appeared) since it was read: read it again and re-plan."""


class CalicoctlError(RuntimeError):
    """calicoctl exited non-zero. Not transient: the message carries its stderr."""

    def __init__(self, argv: list[str], exit_status: int, output: str) -> None:
        self.argv, self.exit_status, self.output = argv, exit_status, output
        super().__init__(f"{' '.join(argv)} exited {exit_status}: {output.strip()[:500]}")


class _CalicoStore:
    """What both stores share: the Calico version, read from ClusterInformation `default` through `read`."""

    async def read(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object `kind`/`name` as a dict, or None when it does not exist."""
        raise NotImplementedError

    async def calico_version(self) -> str | None:
        """The cluster's Calico version (ClusterInformation `default` spec.calicoVersion, without the v)."""
        info = await self.read("ClusterInformation", "default")
        return strip_version(((info or {}).get("spec") or {}).get("calicoVersion"))


class KubeCalicoStore(_CalicoStore):
    """Calico objects as custom resources (crd.projectcalico.org/v1 or projectcalico.org/v3), plus the operator's
    Installation; writes are merge patches carrying the resourceVersion read (409 → `Conflict`)."""

    via = "kubernetes-api"

    def __init__(self, api: kclient.ApiClient, group: str | None) -> None:
        self.custom = kclient.CustomObjectsApi(api)
        self.group = group
        self.version = calico_api_version(group)
        self.ipam_kind = "IPAMConfig" if group == CALICO_CRD_GROUP else "IPAMConfiguration"

    def _where(self, kind: str) -> tuple[str, str, str]:
        if kind == "Installation":
            return OPERATOR_GROUP, "v1", "installations"
        if self.group is None:
            raise RuntimeError("no Calico API group is served; cannot address Calico objects")
        plural = {"IPPool": "ippools", "FelixConfiguration": "felixconfigurations", "IPAMConfig": "ipamconfigs",
                  "IPAMConfiguration": "ipamconfigurations", "ClusterInformation": "clusterinformations"}[kind]
        return self.group, self.version, plural

    async def read_pools(self) -> list[dict[str, Any]]:
        """Every IPPool."""
        group, version, plural = self._where("IPPool")
        listing = await self.custom.list_cluster_custom_object(group, version, plural)
        return list(listing.get("items") or [])

    async def read(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object `kind`/`name` as a dict, or None when it does not exist (404)."""
        group, version, plural = self._where(kind)
        try:
            return await self.custom.get_cluster_custom_object(group, version, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def write(self, edit: ObjectEdit) -> None:
        """Create the object, or merge-patch its spec guarded by the resourceVersion read; 409 → Conflict."""
        group, version, plural = self._where(edit.kind)
        try:
            if edit.create:
                body = {"apiVersion": f"{group}/{version}", "kind": edit.kind, "metadata": {"name": edit.name},
                        "spec": edit.spec}
                await self.custom.create_cluster_custom_object(group, version, plural, body)
            else:
                # A merge patch; the resourceVersion makes the server refuse it (409) if the object changed.
                body = {"metadata": {"resourceVersion": edit.resource_version}, "spec": edit.spec}
                await self.custom.patch_cluster_custom_object(group, version, plural, edit.name, body)
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(f"{edit.kind} {edit.name} changed while being updated") from exc
            raise


class CalicoctlStore(_CalicoStore):
    """Calico objects through `calicoctl` on the control plane (etcd datastore), run over one SSH connection.

    Pools are read with `calicoctl get ippool -o yaml` and written back whole with `calicoctl apply -f -` (the
    edited YAML on stdin, resourceVersion kept, so a concurrent change makes it fail with a conflict); Felix is
    changed with `calicoctl patch felixconfiguration default -p ...`; IPAM with
    `calicoctl ipam configure --strictaffinity=true` (which keeps the other IPAM fields).
    """

    via = "calicoctl-ssh"
    ipam_kind = "IPAMConfig"

    def __init__(self, ssh: Any, conn: Any = None, calicoctl: str = "calicoctl") -> None:
        self.ssh, self.conn, self.calicoctl = ssh, conn, calicoctl

    async def _run(self, *args: str, input: str | None = None, allow_missing: bool = False) -> str | None:
        argv = [self.calicoctl, *args]
        result = await self.ssh.run(argv, input=input, conn=self.conn)
        if result.exit_status == 0:
            return result.stdout
        output = (result.stderr or "") + (result.stdout or "")
        lowered = output.lower()
        if allow_missing and ("does not exist" in lowered or "not found" in lowered):
            return None
        if "conflict" in lowered or "already exists" in lowered:
            raise Conflict(output.strip())
        raise CalicoctlError(argv, result.exit_status, output)

    async def read_pools(self) -> list[dict[str, Any]]:
        """Every IPPool (`calicoctl get ippool -o yaml`)."""
        out = await self._run("get", "ippool", "-o", "yaml")
        doc = yaml.safe_load(out or "") or {}
        if isinstance(doc, dict) and "items" in doc:
            return list(doc.get("items") or [])
        return [doc] if isinstance(doc, dict) and doc.get("kind") == "IPPool" else []

    async def read(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object `kind`/`name` as a dict (`calicoctl get -o yaml`), or None when calicoctl says it is missing."""
        if kind == "IPAMConfig":
            return await self._read_ipam()
        resource = {"IPPool": "ippool", "FelixConfiguration": "felixconfiguration",
                    "ClusterInformation": "clusterinformation"}[kind]
        out = await self._run("get", resource, name, "-o", "yaml", allow_missing=True)
        return None if out is None else (yaml.safe_load(out) or None)

    async def _read_ipam(self) -> dict[str, Any]:
        """`calicoctl ipam show --show-configuration` (its table) as an IPAMConfig-like dict.

        calicoctl shows the defaults (StrictAffinity false) when no IPAMConfig exists, and `ipam configure` creates
        it, so this store never needs to create one itself.
        """
        out = await self._run("ipam", "show", "--show-configuration") or ""
        spec: dict[str, Any] = {}
        for line in out.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 2:
                continue
            key, value = cells
            if key == "StrictAffinity":
                spec["strictAffinity"] = value.lower() == "true"
            elif key == "AutoAllocateBlocks":
                spec["autoAllocateBlocks"] = value.lower() == "true"
            elif key == "MaxBlocksPerHost" and value.isdigit():
                spec["maxBlocksPerHost"] = int(value)
        if "strictAffinity" not in spec:
            raise CalicoctlError([self.calicoctl, "ipam", "show", "--show-configuration"], 0,
                                 f"no StrictAffinity row in the output: {out.strip()[:300]}")
        return {"kind": "IPAMConfig", "metadata": {"name": "default"}, "spec": spec}

    async def write(self, edit: ObjectEdit) -> None:
        """Apply one edit with calicoctl (see the class docstring for which command each kind takes)."""
        if edit.kind == "IPPool":
            obj = json.loads(json.dumps(edit.obj))  # deep copy of what was read, resourceVersion included
            obj.setdefault("spec", {}).update(edit.spec)
            await self._run("apply", "-f", "-", input=yaml.safe_dump(obj, sort_keys=False))
        elif edit.kind == "FelixConfiguration" and edit.create:
            obj = {"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                   "metadata": {"name": "default"}, "spec": edit.spec}
            await self._run("create", "-f", "-", input=yaml.safe_dump(obj, sort_keys=False))
        elif edit.kind == "FelixConfiguration":
            await self._run("patch", "felixconfiguration", "default", "-p", felix_patch_json(edit.spec))
        elif edit.kind == "IPAMConfig":
            await self._run("ipam", "configure", "--strictaffinity=true")
        else:
            raise ValueError(f"calicoctl store cannot write {edit.kind}")
