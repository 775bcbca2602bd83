"""CertificateSigningRequests as kube-apiserver 1.22 validates them and kube-controller-manager's signers treat
them.

- `validation_causes`: the API's checks on create (`ValidateCertificateSigningRequestCreate`): usages present,
  each a known usage, none twice; `expirationSeconds` at least 600.
- `signer_failure`: the `kubernetes.io/kube-apiserver-client-kubelet` signer's `ValidateKubeletClientCSR` — subject
  O=system:nodes only, CN=system:node:*, no SANs, usages exactly the kubelet client ones (with or without key
  encipherment). A CSR it refuses gets a `Failed` condition with reason `SignerValidationFailure`.
- `CsrFaults.never_sign`: the fault of a CSR that nobody approves or signs (a missing approver, a stopped
  controller manager): matching CSRs stay Pending even when approved.
"""

from __future__ import annotations

import base64
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

Obj = dict[str, Any]
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
ALL_USAGES = ("signing", "digital signature", "content commitment", "key encipherment", "key agreement",
              "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
              "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
              "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")
_KUBELET_USAGES = {"digital signature", "key encipherment", "client auth"}
_KUBELET_USAGES_NO_RSA = {"digital signature", "client auth"}


def validation_causes(spec: Obj) -> list[tuple[str, str]]:
    """(field, message) pairs for what the API server refuses in a new CSR's spec (422 Invalid)."""
    causes: list[tuple[str, str]] = []
    usages = spec.get("usages") or []
    if not usages:
        causes.append(("spec.usages", "Required value: usages must be provided"))
    supported = ", ".join(f'"{u}"' for u in sorted(ALL_USAGES))
    for i, usage in enumerate(usages):
        if usage not in ALL_USAGES:
            causes.append((f"spec.usages[{i}]", f'Unsupported value: "{usage}": supported values: {supported}'))
    seen: set[str] = set()
    for i, usage in enumerate(usages):
        if usage in seen:
            causes.append((f"spec.usages[{i}]", f'Duplicate value: "{usage}"'))
        seen.add(usage)
    seconds = spec.get("expirationSeconds")
    if seconds is not None and int(seconds) < 600:
        causes.append(("spec.expirationSeconds",
                       f"Invalid value: {int(seconds)}: may not specify a duration less than 600 seconds (10 "
                       "minutes)"))
    return causes


def signer_failure(spec: Obj) -> str | None:
    """Why the signer of `spec.signerName` refuses to sign this request, or None."""
    if spec.get("signerName") != KUBELET_CLIENT_SIGNER:
        return None
    try:
        req = x509.load_pem_x509_csr(base64.b64decode(spec.get("request", "")))
    except ValueError as exc:
        return f"unable to parse csr: {exc}"
    orgs = [a.value for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if orgs != ["system:nodes"]:
        return "subject organization is not system:nodes"
    try:
        san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        for kind, text in ((x509.DNSName, "DNS"), (x509.RFC822Name, "Email"), (x509.IPAddress, "IP"),
                           (x509.UniformResourceIdentifier, "URI")):
            if san.get_values_for_type(kind):
                return f"{text} subjectAltNames are not allowed"
    cns = [a.value for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not cns or not str(cns[0]).startswith("system:node:"):
        return "subject common name does not begin with system:node:"
    usages = set(spec.get("usages") or [])
    if usages != _KUBELET_USAGES and usages != _KUBELET_USAGES_NO_RSA:
        return f"usages did not match [{' '.join(sorted(_KUBELET_USAGES))}]"
    return None


@dataclass
class CsrFaults:
    """Lab faults on CSRs: names (fnmatch patterns) of CSRs that are never approved nor signed."""

    never_sign: list[str] = field(default_factory=list)

    def blocks(self, csr: Obj) -> bool:
        """True when the fault keeps this CSR from being signed."""
        name = (csr.get("metadata") or {}).get("name", "")
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.never_sign)
