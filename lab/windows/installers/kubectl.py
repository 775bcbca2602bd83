"""The `c:\\k\\kubectl.exe --kubeconfig=...` calls the Calico installer makes, answered by the real lab API.

Each call returns what kubectl would print (stdout, stderr); the caller decides, as the PowerShell script does,
what an empty answer means. kubectl.exe must be on the host (it comes with the Kubernetes node binaries, i.e.
`-KubeVersion`), and the kubeconfig file must exist there: otherwise the calls fail as they would on Windows.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .kubeapi import ApiFailure, HostApiClient, KubeconfigInvalid, parse_kubeconfig

KUBECTL = "c:\\k\\kubectl.exe"
CALICO_GROUP = "crd.projectcalico.org"


@dataclass
class KubectlResult:
    """What one kubectl invocation printed. `missing` is True when kubectl.exe itself was not found."""

    stdout: str = ""
    stderr: str = ""
    missing: bool = False
    data: Any = None    # the decoded object(s) behind stdout, for the caller's convenience


def not_recognized(path: str = KUBECTL) -> str:
    """PowerShell's CommandNotFoundException text for a program that is not there."""
    return (f"The term '{path}' is not recognized as the name of a cmdlet, function, script file, or operable "
            f"program. Check the spelling of the name, or if a path was included, verify that the path is correct "
            f"and try again.")


class Kubectl:
    """kubectl on one host with one `--kubeconfig` file."""

    def __init__(self, runtime: Any, kubeconfig_path: str, *, exe: str = KUBECTL) -> None:
        self.rt = runtime
        self.path = kubeconfig_path
        self.exe = exe

    def _client(self) -> HostApiClient | KubectlResult:
        fs = self.rt.host.fs
        if not fs.is_file(self.exe):
            return KubectlResult(missing=True, stderr=not_recognized(self.exe))
        if not fs.is_file(self.path):
            return KubectlResult(stderr=f"error: stat {self.path}: The system cannot find the file specified.")
        try:
            cred = parse_kubeconfig(fs.read_text(self.path), read_file=fs.read_bytes)
        except KubeconfigInvalid as exc:
            return KubectlResult(stderr=exc.message)
        return HostApiClient(cred, reachable=self._reachable)

    def _reachable(self, host: str, port: int) -> bool:
        h = self.rt.host
        if not h.reachable:
            return True  # a host model without a network table: the API is reachable
        return h.tcp_reachable(host, port)

    async def _get(self, path: str, params: dict | None = None) -> tuple[Any, KubectlResult | None]:
        client = self._client()
        if isinstance(client, KubectlResult):
            return None, client
        try:
            return await client.request("GET", path, params=params), None
        except ApiFailure as exc:
            return None, KubectlResult(stderr=exc.kubectl_message, data=exc)

    async def _calico_served(self, plural: str) -> KubectlResult | None:
        doc, err = await self._get(f"/apis/{CALICO_GROUP}/v1")
        if err is not None:
            if isinstance(err.data, ApiFailure) and err.data.status == 404:
                return KubectlResult(stderr=f'error: the server doesn\'t have a resource type "{plural}"')
            return err
        if not any(r.get("name") == plural for r in (doc or {}).get("resources") or []):
            return KubectlResult(stderr=f'error: the server doesn\'t have a resource type "{plural}"')
        return None

    # ---- the calls the installer makes ---------------------------------------------------------------------
    async def get_namespace(self, name: str) -> KubectlResult:
        """`kubectl get ns NAME`: a table line on stdout, or the NotFound error."""
        doc, err = await self._get(f"/api/v1/namespaces/{quote(name)}")
        if err is not None:
            return err
        phase = (doc.get("status") or {}).get("phase", "Active")
        return KubectlResult(stdout=f"NAME{' ' * max(len(name) - 1, 3)}STATUS   AGE\n{name}   {phase}   5d\n",
                             data=doc)

    async def token_secret_names(self, namespace: str) -> KubectlResult:
        """`kubectl get secret -n NS --field-selector=type=kubernetes.io/service-account-token --no-headers
        -o custom-columns=":metadata.name"`: one name per line."""
        doc, err = await self._get(f"/api/v1/namespaces/{quote(namespace)}/secrets",
                                   {"fieldSelector": "type=kubernetes.io/service-account-token"})
        if err is not None:
            return err
        names = [i["metadata"]["name"] for i in (doc or {}).get("items") or []
                 if i.get("type") == "kubernetes.io/service-account-token"]
        return KubectlResult(stdout="".join(n + "\n" for n in names), data=names)

    async def secret(self, namespace: str, name: str) -> KubectlResult:
        """`kubectl get secret/NAME -n NS -o json` (callers pick `.data.*`)."""
        doc, err = await self._get(f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}")
        if err is not None:
            return err
        return KubectlResult(stdout="", data=doc)

    async def felix_field(self, field: str) -> KubectlResult:
        """`kubectl get felixconfigurations.crd.projectcalico.org default -o jsonpath='{.spec.FIELD}'`."""
        missing = await self._calico_served("felixconfigurations")
        if missing is not None:
            return missing
        doc, err = await self._get(f"/apis/{CALICO_GROUP}/v1/felixconfigurations/default")
        if err is not None:
            return err
        value = (doc.get("spec") or {}).get(field)
        return KubectlResult(stdout=_jsonpath_str(value), data=doc)

    async def ippool_fields(self, field: str) -> KubectlResult:
        """`kubectl get ippools.crd.projectcalico.org -o jsonpath='{.items[*].spec.FIELD}'`: space-separated."""
        missing = await self._calico_served("ippools")
        if missing is not None:
            return missing
        doc, err = await self._get(f"/apis/{CALICO_GROUP}/v1/ippools")
        if err is not None:
            return err
        values = [(i.get("spec") or {}).get(field) for i in (doc or {}).get("items") or []]
        return KubectlResult(stdout=" ".join(_jsonpath_str(v) for v in values if v is not None), data=doc)

    async def configmap_value(self, namespace: str, name: str, key: str) -> KubectlResult:
        """`kubectl get configmap NAME -n NS -o jsonpath='{.data.KEY}'`."""
        doc, err = await self._get(f"/api/v1/namespaces/{quote(namespace)}/configmaps/{quote(name)}")
        if err is not None:
            return err
        return KubectlResult(stdout=str((doc.get("data") or {}).get(key, "")), data=doc)

    async def apply_token_secret(self, name: str, namespace: str, service_account: str) -> KubectlResult:
        """`kubectl apply -f` of a `kubernetes.io/service-account-token` Secret for `service_account`."""
        client = self._client()
        if isinstance(client, KubectlResult):
            return client
        body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                "metadata": {"name": name, "namespace": namespace,
                             "annotations": {"kubernetes.io/service-account.name": service_account}}}
        base = f"/api/v1/namespaces/{quote(namespace)}/secrets"
        try:
            try:
                await client.request("GET", f"{base}/{quote(name)}")
                return KubectlResult(stdout=f"secret/{name} unchanged\n")
            except ApiFailure as exc:
                if exc.status != 404:
                    raise
            await client.request("POST", base, body=body)
            return KubectlResult(stdout=f"secret/{name} created\n")
        except ApiFailure as exc:
            return KubectlResult(stderr=exc.kubectl_message, data=exc)


def _jsonpath_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def b64decode_text(value: str) -> str:
    """`[System.Text.Encoding]::ASCII.GetString([System.Convert]::FromBase64String($x))` (empty on bad input,
    where PowerShell would raise — the caller reports that)."""
    try:
        return base64.b64decode(value or "").decode("ascii", "replace")
    except ValueError:
        return ""
