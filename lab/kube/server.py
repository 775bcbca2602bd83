"""The HTTPS front of the emulated API server: URL routing, authentication and authorization, the REST verbs on
every served type, subresources (status, approval, scale, log, exec, token), watches, discovery and OpenAPI.

One catch-all aiohttp route parses the path the way the real server's RequestInfoFactory does; handlers work on the
store directly. Every answered request is recorded in the `RequestLog`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from . import deletion, discovery, eviction, exec as kexec, patch as kpatch, protobuf, reviews, tables, watch as kwatch
from .auth import Attributes, UserInfo, impersonated, impersonation_requests
from .defaults import RequestContext, current_request
from .errors import (AlreadyExists, ApiError, BadRequest, Conflict, Gone, MethodNotAllowed, NotFound, Unauthorized,
                     UnsupportedMediaType)
from .requestlog import RequestEntry
from .resources import ResourceType
from .selectors import parse_fields, parse_labels
from .store import now_iso

if TYPE_CHECKING:
    from .cluster import KubeLab

log = logging.getLogger(__name__)
Obj = dict[str, Any]
_JSON = "application/json"
# Kinds whose create keeps the status sent (a kubelet registers its Node with status).
_KEEP_STATUS_ON_CREATE = {("", "nodes")}


@dataclass
class RequestInfo:
    """A request in API terms (what RBAC and the request log see)."""

    verb: str
    path: str
    resource_request: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    discovery: str | None = None  # "api", "apis", "group", "resources" for discovery paths


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, content_type: str = _JSON,
                  headers: dict[str, str] | None = None) -> web.Response:
    """`obj` as JSON with the exact Content-Type given (parameters included, as aggregated discovery needs)."""
    return web.Response(body=_dumps(obj), status=status, headers={**(headers or {}), "Content-Type": content_type})


def status_response(err: ApiError) -> web.Response:
    return web.Response(body=_dumps(err.status()), status=err.code, content_type=_JSON)


def _not_found_path() -> ApiError:
    return NotFound("the server could not find the requested resource", details={})


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


def _http_verb(method: str, has_name: bool, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if has_name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if has_name else "deletecollection"}.get(method, method.lower())


def parse_request(method: str, path: str, query: Any) -> RequestInfo:
    """Split an API path into group/version/resource/namespace/name/subresource and pick the Kubernetes verb."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(method.lower() if method != "HEAD" else "get", path)
    if parts[0] == "api":
        if len(parts) == 1:
            return RequestInfo("get", path, discovery="api")
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) == 1:
            return RequestInfo("get", path, discovery="apis")
        if len(parts) == 2:
            return RequestInfo("get", path, group=parts[1], discovery="group")
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return RequestInfo("get", path, group=group, version=version, discovery="resources")
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    if not watch:
        watch = _flag(query.get("watch"))
    namespace = None
    if rest and rest[0] == "namespaces" and len(rest) >= 2:
        if not group and len(rest) == 3 and rest[2] in ("status", "finalize"):
            pass  # /api/v1/namespaces/{name}/status is the namespace's own subresource
        elif len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
    if not rest:
        raise _not_found_path()
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        raise _not_found_path()
    verb = _http_verb(method, name is not None, watch)
    if sub == "exec" or sub == "attach" or sub == "portforward":
        verb = "create"
    return RequestInfo(verb, path, True, group, version, resource, namespace, name, sub)


class ApiServer:
    """Request handling for one KubeLab."""

    def __init__(self, kube: "KubeLab") -> None:
        self.kube = kube
        self.store = kube.store
        self.registry = kube.registry
        self._conn_ids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._next_conn = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    # --- entry point ---------------------------------------------------------------------------------------
    def _conn_id(self, request: web.Request) -> int:
        transport = request.transport
        if transport is None:
            return 0
        cid = self._conn_ids.get(transport)
        if cid is None:
            self._next_conn += 1
            cid = self._conn_ids[transport] = self._next_conn
        return cid

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        conn = self._conn_id(request)
        user_name = ""
        info: RequestInfo | None = None
        code = 500
        try:
            user = self._authenticate(request)
            user_name = user.name
            info = parse_request(request.method, request.path, request.query)
            self._authorize(user, info, request.query)
            if info.verb == "watch" or info.subresource == "exec":
                # long-lived: logged as soon as they are accepted
                self._record(request, info, 200, user_name, conn)
                code = -1
            resp = await self._route(request, info, user)
            if code != -1:
                code = resp.status
            return resp
        except ApiError as err:
            code = err.code
            return status_response(err)
        except (ConnectionResetError, asyncio.CancelledError):
            code = 499
            raise
        except Exception as exc:  # a lab bug: answer like a real server's 500 and keep serving
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            err = ApiError(f"Internal error occurred: {type(exc).__name__}: {exc}", code=500,
                           reason="InternalError")
            code = 500
            return status_response(err)
        finally:
            if code != -1:
                self._record(request, info, code, user_name, conn)

    def _record(self, request: web.Request, info: RequestInfo | None, code: int, user: str, conn: int) -> None:
        info = info or RequestInfo(request.method.lower(), request.path)
        ctype = request.headers.get("Content-Type", "") if info.verb == "patch" else None
        self.kube.requests.record(RequestEntry(
            verb=info.verb, path=request.path_qs, group=info.group, resource=info.resource,
            namespace=info.namespace, name=info.name, subresource=info.subresource, code=code, user=user,
            conn_id=conn, at=time.time(), patch_type=ctype.split(";")[0] if ctype else None,
            user_agent=request.headers.get("User-Agent", "")))

    def _authenticate(self, request: web.Request) -> UserInfo:
        header = request.headers.get("Authorization", "")
        bearer = None
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthorized("Unauthorized")
            bearer = value.strip()
        peercert = request.transport.get_extra_info("peercert") if request.transport else None
        user = self.kube.authn.authenticate(bearer, peercert)
        if user is None:
            raise Unauthorized("Unauthorized")
        return self._impersonate(request, user)

    def _impersonate(self, request: web.Request, user: UserInfo) -> UserInfo:
        h = request.headers
        as_user = h.get("Impersonate-User")
        groups = h.getall("Impersonate-Group", [])
        uid = h.get("Impersonate-Uid", "")
        extra: dict[str, list[str]] = {}
        for key, value in h.items():
            if key.lower().startswith("impersonate-extra-"):
                extra.setdefault(key[len("impersonate-extra-"):].lower(), []).append(value)
        if as_user is None:
            if groups or uid or extra:
                raise BadRequest("requested impersonation of groups, uid or extra without impersonating a user")
            return user
        for attrs in impersonation_requests(as_user, groups, uid, extra):
            if not self.kube.authz.allowed(user, attrs):
                raise self.kube.authz.forbidden(user, attrs)
        return impersonated(as_user, groups, uid, extra)

    def _authorize(self, user: UserInfo, info: RequestInfo, query: Any) -> None:
        if info.resource_request:
            name = info.name or ""
            if not name and info.verb in ("list", "watch"):  # as RequestInfoFactory: a single-object list/watch
                fields = parse_fields(query.get("fieldSelector"), info.group, info.resource) \
                    if query.get("fieldSelector") else None
                name = (fields.required("metadata.name") if fields else None) or ""
            attrs = Attributes(info.verb, info.group, info.resource, info.subresource or "", info.namespace or "",
                               name)
        else:
            attrs = Attributes(info.verb, path=info.path, resource_request=False)
        if not self.kube.authz.allowed(user, attrs):
            raise self.kube.authz.forbidden(user, attrs)

    # --- routing -------------------------------------------------------------------------------------------
    async def _route(self, request: web.Request, info: RequestInfo, user: UserInfo) -> web.StreamResponse:
        if not info.resource_request:
            return await self._non_resource(request, info)
        rt = self.registry.get(info.group, info.resource)
        if rt is None or rt.version != info.version:
            raise _not_found_path()
        if info.namespace is not None and not rt.namespaced:
            raise _not_found_path()
        if info.subresource == "finalize" and rt.key == ("", "namespaces") and request.method == "PUT":
            return await self._finalize_namespace(request, rt, info)
        if info.subresource is not None and info.subresource not in rt.subresources:
            raise _not_found_path()
        if info.subresource == "exec":
            return await self._exec(request, rt, info)
        if info.subresource == "eviction":
            if request.method != "POST":
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            body = await self._body(request)
            if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
                raise BadRequest("the body of the request must be an Eviction")
            if (body.get("metadata") or {}).get("name") not in (None, info.name):
                raise BadRequest("name in URL does not match name in Eviction object")
            return json_response(eviction.evict(self.store, info.namespace or "default", info.name or "", body), 201)
        if info.subresource == "log":
            return await self._log(request, rt, info)
        if info.subresource == "token":
            if request.method != "POST":
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            return await self._token(request, rt, info)
        if info.subresource == "scale":
            return await self._scale(request, rt, info, user)
        if rt.key in reviews.REVIEW_KEYS:
            if info.verb != "create" or info.name is not None:
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            body = self._check_kind(rt, await self._body(request))
            return json_response(reviews.review(rt, body, user, info.namespace, authn=self.kube.authn,
                                                authz=self.kube.authz), 201)
        if rt.namespaced and info.namespace is None and info.verb not in ("list", "watch"):
            if not (rt.key == ("", "namespaces")):
                raise _not_found_path()
        token = current_request.set(RequestContext(field_validation=request.query.get("fieldValidation", "Warn"),
                                                   user=user.name))
        try:
            verb = info.verb
            if verb == "get":
                return self._get(request, rt, info)
            if verb == "list":
                return self._list(request, rt, info)
            if verb == "watch":
                return await self._watch(request, rt, info)
            if verb == "create":
                return await self._create(request, rt, info, user)
            if verb == "update":
                return await self._update(request, rt, info)
            if verb == "patch":
                return await self._patch(request, rt, info, user)
            if verb == "delete":
                return await self._delete(request, rt, info)
            if verb == "deletecollection":
                return await self._delete_collection(request, rt, info)
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        finally:
            current_request.reset(token)

    async def _non_resource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        kube = self.kube
        accept = request.headers.get("Accept", "")
        if info.discovery in ("api", "apis"):
            media = discovery.aggregated_type(accept, kube.minor_version)
            if media is not None:
                return json_response(discovery.aggregated(self.registry, core=info.discovery == "api",
                                                          media_type=media), content_type=media)
            if info.discovery == "api":
                return json_response(discovery.api_versions(kube.server_address))
            return json_response(discovery.api_group_list(self.registry))
        if info.discovery == "group":
            body = discovery.api_group(self.registry, info.group)
            if body is None:
                raise _not_found_path()
            return json_response(body)
        if info.discovery == "resources":
            body = discovery.resource_list(self.registry, info.group, info.version)
            if body is None:
                raise _not_found_path()
            return json_response(body)
        path = info.path.rstrip("/") or "/"
        if path == "/version":
            return json_response(kube.version)
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/openapi/v2":
            first = discovery.media_types(accept)[0][0] if accept else _JSON
            if "protobuf" in first:  # an empty document: clients then validate nothing and use built-in merge keys
                # kube-openapi labels protobuf as octet-stream: kubectl ≤ 1.2x's Go mime parser rejects the '@'
                # in the protobuf media type.
                return web.Response(body=b"", headers={"Content-Type": "application/octet-stream"})
            return web.Response(body=kube.openapi.v2_json(), content_type=_JSON)
        if path == "/openapi/v3":
            return json_response(kube.openapi.v3_index())
        if path.startswith("/openapi/v3/"):
            gv = path[len("/openapi/v3/"):].split("/")
            doc = None
            if len(gv) == 2 and gv[0] == "api":
                doc = kube.openapi.v3_doc("", gv[1])
            elif len(gv) == 3 and gv[0] == "apis":
                doc = kube.openapi.v3_doc(gv[1], gv[2])
            if doc is None:
                raise _not_found_path()
            return web.Response(body=doc, content_type=_JSON)
        if path == "/":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz",
                     "/version"] + [f"/apis/{g}" for g, _ in discovery.ordered_groups(self.registry) if g]
            return json_response({"paths": sorted(paths)})
        return web.Response(status=404, text="404 page not found\n", content_type="text/plain")

    # --- helpers -------------------------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        ctype = request.headers.get("Content-Type", _JSON).split(";")[0].strip()
        if not raw:
            raise BadRequest("the body of the request was empty")
        try:
            if ctype in ("application/yaml", kpatch.APPLY_PATCH):
                return yaml.safe_load(raw)
            if ctype == protobuf.CONTENT_TYPE:
                return protobuf.decode(raw)
            if ctype not in (_JSON, "") and not ctype.endswith("+json"):
                raise UnsupportedMediaType("the body of the request was in an unknown format - accepted media "
                                           "types include: application/json, application/yaml, "
                                           "application/vnd.kubernetes.protobuf")
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise BadRequest(f"the body of the request could not be decoded: {exc}") from None

    @staticmethod
    def _table_wanted(request: web.Request) -> bool:
        for base, params in discovery.media_types(request.headers.get("Accept", "")):
            if base == _JSON and params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
                return True
            if base in (_JSON, "*/*", "application/yaml"):
                return False
        return False

    def _printer(self, rt: ResourceType) -> tables.Printer | None:
        printer = tables.PRINTERS.get(rt.key)
        if printer is None:
            crd = self.kube.crd_for_type(rt)
            if crd is not None:
                printer = tables.crd_printer(crd, rt.version)
        return printer

    def _check_kind(self, rt: ResourceType, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise BadRequest("the body of the request must be an object")
        av, kind = body.get("apiVersion"), body.get("kind")
        if av and av != rt.api_version:
            raise BadRequest(f"the API version in the data ({av}) does not match the expected API version "
                             f"({rt.api_version})")
        if kind and kind != rt.kind:
            raise BadRequest(f"{kind} in version \"{rt.version}\" cannot be handled as a {rt.kind}: "
                             f"expected kind {rt.kind}")
        return body

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        return "All" in request.query.getall("dryRun", [])

    def _object_response(self, request: web.Request, rt: ResourceType, obj: Obj, status: int = 200) -> web.Response:
        ctx = current_request.get()
        headers = None
        if ctx is not None and ctx.warnings:
            quoted = (w.replace("\\", "\\\\").replace('"', '\\"') for w in ctx.warnings)
            headers = {"Warning": ", ".join(f'299 - "{w}"' for w in quoted)}
        if self._table_wanted(request):
            table = tables.to_table([obj], self._printer(rt), resource_version=obj["metadata"].get(
                "resourceVersion", ""), include_object=request.query.get("includeObject", "Metadata"))
            return json_response(table, status, headers=headers)
        return json_response(obj, status, headers=headers)

    # --- read ----------------------------------------------------------------------------------------------
    def _get(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.Response:
        obj = self.store.get(rt, info.namespace, info.name or "")
        return self._object_response(request, rt, obj)

    def _predicate(self, request: web.Request, rt: ResourceType):
        labels = parse_labels(request.query.get("labelSelector"))
        fields = parse_fields(request.query.get("fieldSelector"), rt.group, rt.plural)
        if not labels and not fields:
            return None, fields
        return (lambda o: labels.matches(o) and fields.matches(o)), fields

    def _list(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.Response:
        q = request.query
        predicate, fields = self._predicate(request, rt)
        current = self.store.resource_version
        rv, match = q.get("resourceVersion"), q.get("resourceVersionMatch")
        if rv and rv != "0":
            try:
                wanted = int(rv)
            except ValueError:
                raise BadRequest(f'invalid resource version "{rv}"') from None
            if wanted > int(current):
                raise ApiError(f"Too large resource version: {wanted}, current: {current}", code=504,
                               reason="Timeout", details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                                      "message": "Too large resource version"}],
                                                          "retryAfterSeconds": 1})
            if match == "Exact" and rv != current:
                raise Gone(f"too old resource version: {rv} ({current})")
        name = fields.required("metadata.name") if fields else None
        if name is not None and (info.namespace or not rt.namespaced):
            one = self.store.try_get(rt, info.namespace, name)
            items = [one] if one is not None and (predicate is None or predicate(one)) else []
        else:
            items = self.store.list(rt, info.namespace, predicate)
        meta: Obj = {"resourceVersion": current}
        cont = q.get("continue")
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()))
                start = tuple(token["start"])
                meta["resourceVersion"] = token["rv"]
            except (ValueError, KeyError, TypeError):
                raise BadRequest("continue key is not valid: incorrect encoded start resourceVersion") from None
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
        limit = int(q.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = {"rv": meta["resourceVersion"], "start": [last.get("namespace", ""), last["name"]]}
            meta["continue"] = base64.urlsafe_b64encode(_dumps(token)).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if self._table_wanted(request):
            return json_response(tables.to_table(items, self._printer(rt), resource_version=meta["resourceVersion"],
                                                 include_object=q.get("includeObject", "Metadata"),
                                                 continue_token=meta.get("continue")))
        return json_response({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items})

    async def _watch(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.StreamResponse:
        q = request.query
        predicate, _ = self._predicate(request, rt)
        timeout = q.get("timeoutSeconds")
        table = self._table_wanted(request)
        printer = self._printer(rt) if table else None
        include = q.get("includeObject", "Metadata")

        def encode(obj: Obj, first: bool) -> Obj:
            if not table:
                return obj
            t = tables.to_table([obj], printer, resource_version=obj["metadata"].get("resourceVersion", ""),
                                include_object=include)
            if not first:
                t["columnDefinitions"] = []
            return t

        send_initial = _flag(q.get("sendInitialEvents"))
        return await kwatch.serve(
            request, self.store, rt, info.namespace, resource_version=q.get("resourceVersion"),
            match=predicate or (lambda o: True), timeout=float(timeout) if timeout else None,
            bookmarks=_flag(q.get("allowWatchBookmarks")), send_initial=send_initial, encode=encode)

    # --- write ---------------------------------------------------------------------------------------------
    async def _create(self, request: web.Request, rt: ResourceType, info: RequestInfo, user: UserInfo) -> web.Response:
        if info.name is not None:
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        body = self._check_kind(rt, await self._body(request))
        if rt.key == ("certificates.k8s.io", "certificatesigningrequests"):
            spec = body.setdefault("spec", {})
            spec["username"], spec["groups"], spec["uid"] = user.name, list(user.groups), user.uid
            if user.extra:
                spec["extra"] = user.extra
        body.setdefault("metadata", {}).pop("managedFields", None)
        if "status" in rt.subresources and rt.key not in _KEEP_STATUS_ON_CREATE:
            body.pop("status", None)  # the status subresource owns it; create resets it, as the real server does
        if self._dry_run(request):
            return self._object_response(request, rt, self._dry_create(rt, body, info.namespace), 201)
        obj = self.store.create(rt, body, info.namespace)
        return self._object_response(request, rt, obj, 201)

    def _dry_create(self, rt: ResourceType, body: Obj, namespace: str | None) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        if meta.get("name") and self.store.try_get(rt, meta.get("namespace"), meta["name"]) is not None:
            raise AlreadyExists.of(rt.plural, meta["name"], rt.group)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta.setdefault("creationTimestamp", now_iso())
        return self.kube.admission.admit("CREATE", obj, None)

    def _write_subresource(self, info: RequestInfo) -> str | None:
        if info.subresource in ("status", "approval"):
            return "status"
        return None

    async def _update(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.Response:
        body = self._check_kind(rt, await self._body(request))
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != info.name:
            raise BadRequest(f"the name of the object ({meta['name']}) does not match the name on the URL "
                             f"({info.name})")
        meta["name"] = info.name
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != info.namespace:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
            meta["namespace"] = info.namespace
        old = self.store.get(rt, info.namespace, info.name or "")
        if "managedFields" not in meta and old["metadata"].get("managedFields"):
            meta["managedFields"] = old["metadata"]["managedFields"]
        if info.subresource == "approval":
            conds = (body.get("status") or {}).get("conditions")
            body = copy.deepcopy(old) | {"metadata": meta}
            body.setdefault("status", {})["conditions"] = conds or []
        if self._dry_run(request):
            return self._object_response(request, rt, self._dry_update(rt, body, old))
        obj = self.store.replace(rt, body, subresource=self._write_subresource(info))
        return self._object_response(request, rt, obj)

    def _dry_update(self, rt: ResourceType, new: Obj, old: Obj) -> Obj:
        sent = (new.get("metadata") or {}).get("resourceVersion")
        if sent and str(sent) != old["metadata"]["resourceVersion"]:
            raise Conflict.stale(rt.plural, old["metadata"]["name"], rt.group)
        new = copy.deepcopy(new)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        return self.kube.admission.admit("UPDATE", new, old)

    async def _patch(self, request: web.Request, rt: ResourceType, info: RequestInfo, user: UserInfo) -> web.Response:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype not in kpatch.PATCH_TYPES:
            raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                       f"include: {', '.join(self._patch_types(rt))}")
        if ctype not in self._patch_types(rt):
            raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                       f"include: {', '.join(self._patch_types(rt))}")
        body = await self._body(request)
        name = info.name or ""
        current = self.store.try_get(rt, info.namespace, name)
        if ctype == kpatch.APPLY_PATCH:
            return self._apply(request, rt, info, current, body)
        if current is None:
            raise NotFound.of(rt.plural, name, rt.group)
        schema = self.kube.admission.schema_for(rt)
        if ctype == kpatch.JSON_PATCH:
            new = kpatch.json_patch(current, body)
        elif ctype == kpatch.MERGE_PATCH:
            new = kpatch.merge_patch(current, body)
        else:
            new = kpatch.strategic_merge_patch(current, body, schema)
        return self._store_patched(request, rt, info, current, new, body)

    def _patch_types(self, rt: ResourceType) -> list[str]:
        types = [kpatch.JSON_PATCH, kpatch.MERGE_PATCH, kpatch.APPLY_PATCH]
        if self.kube.admission.is_builtin(rt):
            types.insert(2, kpatch.STRATEGIC_MERGE_PATCH)
        return types

    def _store_patched(self, request: web.Request, rt: ResourceType, info: RequestInfo, current: Obj, new: Obj,
                       body: Any) -> web.Response:
        meta = new.setdefault("metadata", {})
        cmeta = current["metadata"]
        if meta.get("name") != cmeta["name"] or meta.get("namespace") != cmeta.get("namespace"):
            raise BadRequest("metadata.name and metadata.namespace cannot be changed by a patch")
        sent_rv = None
        if isinstance(body, dict):
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
        elif isinstance(body, list):
            sent_rv = meta.get("resourceVersion") if meta.get("resourceVersion") != cmeta["resourceVersion"] else None
        if sent_rv and str(sent_rv) != cmeta["resourceVersion"]:
            raise Conflict.stale(rt.plural, cmeta["name"], rt.group)
        meta["resourceVersion"] = cmeta["resourceVersion"]
        for k in ("uid", "creationTimestamp"):
            if cmeta.get(k):
                meta[k] = cmeta[k]
        if self._dry_run(request):
            return self._object_response(request, rt, self._dry_update(rt, new, current))
        obj = self.store.replace(rt, new, subresource=self._write_subresource(info))
        return self._object_response(request, rt, obj)

    def _apply(self, request: web.Request, rt: ResourceType, info: RequestInfo, current: Obj | None,
               body: Any) -> web.Response:
        manager = request.query.get("fieldManager")
        if not manager:
            raise BadRequest("PATCH /apply requests require the fieldManager query parameter")
        applied = self._check_kind(rt, body)
        ameta = applied.setdefault("metadata", {})
        if ameta.get("name") and ameta["name"] != info.name:
            raise BadRequest(f"the name of the object ({ameta['name']}) does not match the name on the URL "
                             f"({info.name})")
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise BadRequest("apiVersion and kind must be set in an applied configuration")
        ameta["name"] = info.name
        if rt.namespaced:
            ameta["namespace"] = info.namespace
        schema = self.kube.admission.schema_for(rt)
        if info.subresource == "status":
            applied = {"apiVersion": applied["apiVersion"], "kind": applied["kind"],
                       "metadata": {"name": info.name, **({"namespace": info.namespace} if rt.namespaced else {})},
                       "status": applied.get("status") or {}}
        if current is None:
            if info.subresource:
                raise NotFound.of(rt.plural, info.name or "", rt.group)
            merged = kpatch.server_side_apply(None, applied, schema, manager=manager,
                                              force=_flag(request.query.get("force")), api_version=rt.api_version,
                                              now=now_iso())
            if self._dry_run(request):
                return self._object_response(request, rt, self._dry_create(rt, merged, info.namespace), 201)
            obj = self.store.create(rt, merged, info.namespace)
            return self._object_response(request, rt, obj, 201)
        sent_rv = ameta.get("resourceVersion")
        if sent_rv and str(sent_rv) != current["metadata"]["resourceVersion"]:
            raise Conflict.stale(rt.plural, info.name or "", rt.group)
        if info.subresource == "status":
            new = copy.deepcopy(current)
            new["status"] = kpatch._apply_merge(new.get("status") or {}, applied["status"],
                                                schema.prop("status") if schema else None)
        else:
            new = kpatch.server_side_apply(current, applied, schema, manager=manager,
                                           force=_flag(request.query.get("force")), api_version=rt.api_version,
                                           now=now_iso())
        return self._store_patched(request, rt, info, current, new, {})

    async def _delete(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.Response:
        opts = await self._delete_options(request)
        policy = deletion.requested_policy(rt, request.query.get("propagationPolicy") or opts.get("propagationPolicy"),
                                           opts.get("orphanDependents"))
        grace = request.query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        name = info.name or ""
        current = self.store.get(rt, info.namespace, name)
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != current["metadata"]["uid"]:
            raise Conflict(f'Operation cannot be fulfilled on {rt.qualified} "{name}": Precondition failed: '
                           f'UID in precondition: {pre["uid"]}, UID in object meta: {current["metadata"]["uid"]}',
                           details={"name": name, "kind": rt.plural})
        if pre.get("resourceVersion") and pre["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise Conflict.stale(rt.plural, name, rt.group)
        if self._dry_run(request):
            return self._object_response(request, rt, current)
        obj = self.store.delete(rt, info.namespace, name, propagation=policy,
                                grace_period=int(grace) if grace is not None else None)
        gone = self.store.try_get(rt, info.namespace, name) is None
        answer = deletion.delete_answer(rt, obj, gone, custom=not self.kube.admission.is_builtin(rt))
        # a cascading delete that could not finish at once answers 202 (only when orphanDependents=false was sent)
        status = 202 if not gone and opts.get("orphanDependents") is False else 200
        if answer is obj:
            return self._object_response(request, rt, obj, status)
        return json_response(answer, status)

    async def _delete_options(self, request: web.Request) -> Obj:
        if request.can_read_body and (await request.read()).strip():
            body = await self._body(request)  # JSON, or protobuf from typed clients (kubectl drain)
            if not isinstance(body, dict):
                raise BadRequest("the body of the request could not be decoded as DeleteOptions")
            return body
        return {}

    async def _delete_collection(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.Response:
        predicate, _ = self._predicate(request, rt)
        opts = await self._delete_options(request)
        policy = deletion.requested_policy(rt, request.query.get("propagationPolicy") or opts.get("propagationPolicy"),
                                           opts.get("orphanDependents"))
        grace = request.query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        items = self.store.list(rt, info.namespace, predicate)
        deleted = []
        if not self._dry_run(request):
            for o in items:
                try:
                    deleted.append(self.store.delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"],
                                                     propagation=policy,
                                                     grace_period=int(grace) if grace is not None else None))
                except NotFound:
                    pass
        else:
            deleted = items
        return json_response({"kind": rt.list_kind, "apiVersion": rt.api_version,
                              "metadata": {"resourceVersion": self.store.resource_version}, "items": deleted})

    # --- subresources --------------------------------------------------------------------------------------
    async def _finalize_namespace(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.Response:
        """PUT /api/v1/namespaces/{name}/finalize: only spec.finalizers changes (what the namespace controller
        and "force delete a stuck namespace" recipes use)."""
        body = self._check_kind(rt, await self._body(request))
        finalizers = list((body.get("spec") or {}).get("finalizers") or [])
        sent_rv = (body.get("metadata") or {}).get("resourceVersion")
        current = self.store.get(rt, None, info.name or "")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise Conflict.stale(rt.plural, info.name or "", rt.group)

        def set_finalizers(o: Obj) -> None:
            o.setdefault("spec", {})["finalizers"] = finalizers

        obj = self.store.mutate(rt, None, info.name or "", set_finalizers)
        if self.store.try_get(rt, None, info.name or "") is None:
            obj = dict(obj, spec={"finalizers": finalizers})
        return json_response(obj)
    async def _scale(self, request: web.Request, rt: ResourceType, info: RequestInfo, user: UserInfo) -> web.Response:
        name = info.name or ""
        obj = self.store.get(rt, info.namespace, name)

        def to_scale(o: Obj) -> Obj:
            sel = ((o.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            m = o["metadata"]
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {"name": m["name"], "namespace": m.get("namespace"), "uid": m.get("uid"),
                                 "resourceVersion": m.get("resourceVersion"),
                                 "creationTimestamp": m.get("creationTimestamp")},
                    "spec": {"replicas": (o.get("spec") or {}).get("replicas", 1)},
                    "status": {"replicas": (o.get("status") or {}).get("replicas", 0),
                               "selector": ",".join(f"{k}={v}" for k, v in sel.items())}}

        if request.method == "GET":
            return json_response(to_scale(obj))
        body = await self._body(request)
        current = to_scale(obj)
        if request.method == "PUT":
            new = body
        elif request.method == "PATCH":
            ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
            if ctype == kpatch.JSON_PATCH:
                new = kpatch.json_patch(current, body)
            elif ctype in (kpatch.MERGE_PATCH, kpatch.STRATEGIC_MERGE_PATCH, kpatch.APPLY_PATCH):
                new = kpatch.merge_patch(current, body)
            else:
                raise UnsupportedMediaType(f"unsupported patch type {ctype}")
        else:
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        replicas = (new.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: must '
                           "be greater than or equal to 0", code=422, reason="Invalid")
        sent_rv = (new.get("metadata") or {}).get("resourceVersion")
        if request.method == "PUT" and sent_rv and sent_rv != obj["metadata"]["resourceVersion"]:
            raise Conflict.stale(rt.plural, name, rt.group)

        def set_replicas(o: Obj) -> None:
            o.setdefault("spec", {})["replicas"] = replicas

        token = current_request.set(RequestContext(user=user.name))
        try:
            updated = self.store.mutate(rt, info.namespace, name, set_replicas)
        finally:
            current_request.reset(token)
        return json_response(to_scale(updated))

    async def _token(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.Response:
        sa = self.store.get(rt, info.namespace, info.name or "")
        body = await self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("the body of the request must be a TokenRequest")
        spec = dict(body.get("spec") or {})
        token, expires = self.kube.authn.token_request(sa, spec)
        spec.setdefault("expirationSeconds", 3600)
        if not spec.get("audiences"):
            spec["audiences"] = ["https://kubernetes.default.svc.cluster.local"]
        spec.setdefault("boundObjectRef", None)
        out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"],
                            "creationTimestamp": now_iso()},
               "spec": {k: v for k, v in spec.items() if v is not None},
               "status": {"token": token, "expirationTimestamp": expires}}
        return json_response(out, 201)

    def _pod_container(self, pod: Obj, container: str | None) -> str:
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        init = [c.get("name") for c in spec.get("initContainers") or []]
        pname = pod["metadata"]["name"]
        if not container:
            default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
            if default in names:
                return default
            if len(names) == 1:
                return names[0]
            raise BadRequest(f"a container name must be specified for pod {pname}, choose one of: "
                             f"[{' '.join(names)}]" + (f" or one of the init containers: [{' '.join(init)}]"
                                                      if init else ""))
        if container not in names and container not in init:
            raise BadRequest(f"container {container} is not valid for pod {pname}")
        return container

    async def _log(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.StreamResponse:
        q = request.query
        pod = self.store.get(rt, info.namespace, info.name or "")
        container = self._pod_container(pod, q.get("container"))
        statuses = {c.get("name"): c for c in ((pod.get("status") or {}).get("containerStatuses") or [])
                    + ((pod.get("status") or {}).get("initContainerStatuses") or [])}
        cs = statuses.get(container)
        pname = pod["metadata"]["name"]
        if cs is None or ("waiting" in (cs.get("state") or {}) and not cs.get("restartCount")):
            reason = ((cs or {}).get("state") or {}).get("waiting", {}).get("reason") or "ContainerCreating"
            raise BadRequest(f'container "{container}" in pod "{pname}" is waiting to start: {reason}')
        if _flag(q.get("previous")) and not cs.get("lastState", {}).get("terminated"):
            raise BadRequest(f'previous terminated container "{container}" in pod "{pname}" not found')
        text = self._render_log(pod, container, q)
        if not _flag(q.get("follow")):
            return web.Response(text=text, content_type="text/plain")
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(text.encode())
        sent = text
        while True:
            await asyncio.sleep(0.2)
            current = self.store.try_get(rt, info.namespace, pname)
            if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
                break
            full = self._log_text(current, container)
            if full.startswith(sent) and len(full) > len(sent):
                await resp.write(full[len(sent):].encode())
                sent = full
            state = (next((c for c in (current.get("status") or {}).get("containerStatuses") or []
                           if c.get("name") == container), {}) or {}).get("state") or {}
            if "terminated" in state:
                break
        await resp.write_eof()
        return resp

    def _log_text(self, pod: Obj, container: str) -> str:
        try:
            return self.kube.log_provider(pod, container) or ""
        except Exception:  # a provider bug shows as an empty log rather than a hung client
            return ""

    def _render_log(self, pod: Obj, container: str, q: Any) -> str:
        text = self._log_text(pod, container)
        lines = text.splitlines(keepends=True)
        if q.get("tailLines") is not None:
            n = int(q["tailLines"])
            lines = lines[-n:] if n > 0 else []
        if _flag(q.get("timestamps")):
            started = ((pod.get("status") or {}).get("startTime") or pod["metadata"].get("creationTimestamp", ""))
            stamp = started.replace("Z", ".000000000Z")
            lines = [f"{stamp} {line}" for line in lines]
        text = "".join(lines)
        if q.get("limitBytes") is not None:
            text = text.encode()[: int(q["limitBytes"])].decode(errors="ignore")
        return text

    async def _exec(self, request: web.Request, rt: ResourceType, info: RequestInfo) -> web.StreamResponse:
        q = request.query
        if rt.key != ("", "pods"):
            raise _not_found_path()
        pod = self.store.get(rt, info.namespace, info.name or "")
        container = self._pod_container(pod, q.get("container"))
        argv = q.getall("command", [])
        if not argv:
            raise BadRequest("you must specify at least 1 command")
        pname = pod["metadata"]["name"]
        if not (pod.get("spec") or {}).get("nodeName"):
            raise BadRequest(f"pod {pname} does not have a host assigned")
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise BadRequest(f"cannot exec into a container in a completed pod; current phase is {phase}")
        cs = next((c for c in (pod.get("status") or {}).get("containerStatuses") or []
                   if c.get("name") == container), None)
        if cs is None or "running" not in (cs.get("state") or {}):
            raise BadRequest(f'unable to upgrade connection: container not found ("{container}")')
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise BadRequest("Upgrade request required")
        protocol = kexec.negotiate(request, self.kube.minor_version)
        if protocol is None:
            raise BadRequest("unable to upgrade connection: no supported channel protocol offered "
                             f"(supported: {', '.join(kexec.protocols_for(self.kube.minor_version))})")
        streams = dict(want_stdin=_flag(q.get("stdin")), want_stdout=_flag(q.get("stdout")) or "stdout" not in q,
                       want_stderr=_flag(q.get("stderr")) or "stderr" not in q, tty=_flag(q.get("tty")))
        stream = getattr(self.kube.exec_runtime, "stream", None)
        if stream is not None:
            return await kexec.serve_streaming(request, protocol, lambda io: stream(pod, container, argv, io), argv,
                                               **streams)

        async def run(stdin: bytes | None) -> kexec.ExecResult:
            return await self.kube.run_exec(pod, container, argv, stdin)

        return await kexec.serve(request, run, argv, protocol=protocol, **streams)
