"""The create-only review APIs: who am I and may I (`kubectl auth can-i`, `kubectl auth whoami`), and the
TokenReview / SubjectAccessReview webhooks-style checks other components make."""

from __future__ import annotations

from typing import Any

from .auth import Attributes, Authenticator, Authorizer, UserInfo
from .errors import BadRequest
from .resources import ResourceType

Obj = dict[str, Any]
AUTHZ, AUTHN = "authorization.k8s.io", "authentication.k8s.io"
_CREATE = ("create",)

REVIEW_TYPES: tuple[ResourceType, ...] = (
    ResourceType(AUTHZ, "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, verbs=_CREATE),
    ResourceType(AUTHZ, "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=_CREATE),
    ResourceType(AUTHZ, "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True, verbs=_CREATE),
    ResourceType(AUTHZ, "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, verbs=_CREATE),
    ResourceType(AUTHN, "v1", "tokenreviews", "TokenReview", False, verbs=_CREATE),
    ResourceType(AUTHN, "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=_CREATE),
)
REVIEW_KEYS = frozenset(rt.key for rt in REVIEW_TYPES)


def _attributes(spec: Obj, namespace: str | None) -> Attributes:
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if ra:
        return Attributes(ra.get("verb", ""), ra.get("group", ""), ra.get("resource", ""), ra.get("subresource", ""),
                          namespace or ra.get("namespace", ""), ra.get("name", ""))
    if nra:
        return Attributes(nra.get("verb", ""), path=nra.get("path", ""), resource_request=False)
    raise BadRequest("spec.resourceAttributes or spec.nonResourceAttributes is required")


def _user_info(user: UserInfo) -> Obj:
    out: Obj = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        out["uid"] = user.uid
    return out


def review(rt: ResourceType, body: Obj, user: UserInfo, namespace: str | None, *, authn: Authenticator,
           authz: Authorizer) -> Obj:
    """Answer a review object: the body sent, with `status` filled in."""
    spec = body.get("spec") or {}
    out: Obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": body.get("metadata") or {},
                "spec": spec}
    if rt.plural == "selfsubjectreviews":
        out["status"] = {"userInfo": _user_info(user)}
    elif rt.plural == "tokenreviews":
        who = authn.authenticate_token(spec.get("token", "")) if spec.get("token") else None
        out["status"] = {"authenticated": who is not None, "audiences": spec.get("audiences") or []}
        if who is not None:
            out["status"]["user"] = _user_info(who)
        else:
            out["status"]["error"] = "invalid bearer token"
    elif rt.plural == "selfsubjectrulesreviews":
        out["status"] = _rules(user, spec.get("namespace", ""), authz)
    else:
        subject = user
        if rt.plural in ("subjectaccessreviews", "localsubjectaccessreviews"):
            subject = UserInfo(spec.get("user", ""), tuple(spec.get("groups") or ()), spec.get("uid", ""))
        attrs = _attributes(spec, namespace if rt.namespaced else None)
        allowed = authz.allowed(subject, attrs)
        out["status"] = {"allowed": allowed}
    return out


def _rules(user: UserInfo, namespace: str, authz: Authorizer) -> Obj:
    if user.is_master:
        rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]
    else:
        rules = authz.rules_for(user, namespace)
    resource_rules = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if k in r}
                      for r in rules if "resources" in r]
    non_resource = [{"verbs": r.get("verbs", []), "nonResourceURLs": r["nonResourceURLs"]}
                    for r in rules if "nonResourceURLs" in r]
    return {"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": False}
