"""What listens inside pods and on nodes, and what it answers: nginx, IIS, CoreDNS, the API server, kubelet,
httpd, and any declared containerPort (a plain HTTP 200)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import formatdate
from ..controllers import images

NGINX_VERSION = "1.21.6"

NGINX_WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

IIS_START = "\r\n".join("""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1" />
<title>IIS Windows Server</title>
<style type="text/css">
<!--
body {
	color:#000000;
	background-color:#0072C6;
	margin:0;
}

#container {
	margin-left:auto;
	margin-right:auto;
	text-align:center;
	}

a img {
	border:none;
}

-->
</style>
</head>
<body>
<div id="container">
<a href="http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409"><img src="iisstart.png" alt="IIS" width="960" height="600" /></a>
</div>
</body>
</html>""".split("\n"))


@dataclass
class HttpResponse:
    """An HTTP response as a server sends it (headers in wire order)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    version: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def head_text(self) -> str:
        """Status line and headers, CRLF-terminated, ending with the blank line."""
        lines = [f"{self.version} {self.status} {self.reason}"] + [f"{k}: {v}" for k, v in self.headers]
        return "\r\n".join(lines) + "\r\n\r\n"


def http_date() -> str:
    return formatdate(usegmt=True)


@dataclass
class App:
    """A listener: which (port, protocol) pairs it serves, and how it answers HTTP."""

    name: str
    ports: set[tuple[int, str]]
    tls_ports: set[int] = field(default_factory=set)
    server: str = ""

    def listens(self, port: int, proto: str) -> bool:
        return (port, proto) in self.ports

    def http(self, method: str, path: str, headers: dict[str, str], *, tls: bool = False) -> HttpResponse:
        return _ANSWER.get(self.name, _generic)(self, method, path, headers, tls)

    @property
    def is_dns(self) -> bool:
        return self.name == "coredns"


def _nginx(app: App, method: str, path: str, headers: dict[str, str], tls: bool) -> HttpResponse:
    server = f"nginx/{app.server or NGINX_VERSION}"
    if path.split("?", 1)[0] in ("/", "/index.html"):
        body = NGINX_WELCOME.encode()
        hdrs = [("Server", server), ("Date", http_date()), ("Content-Type", "text/html"),
                ("Content-Length", str(len(body))), ("Last-Modified", "Tue, 25 Jan 2022 15:03:52 GMT"),
                ("Connection", "keep-alive"), ("ETag", f'"61f01158-{len(body):x}"'), ("Accept-Ranges", "bytes")]
        return HttpResponse(200, "OK", hdrs, b"" if method == "HEAD" else body)
    body = (f"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>"
            f"\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n").encode()
    hdrs = [("Server", server), ("Date", http_date()), ("Content-Type", "text/html"),
            ("Content-Length", str(len(body))), ("Connection", "keep-alive")]
    return HttpResponse(404, "Not Found", hdrs, b"" if method == "HEAD" else body)


def _iis(app: App, method: str, path: str, headers: dict[str, str], tls: bool) -> HttpResponse:
    if path.split("?", 1)[0] in ("/", "/iisstart.htm"):
        body = IIS_START.encode()
        hdrs = [("Content-Type", "text/html"), ("Last-Modified", "Sat, 12 Feb 2022 01:33:41 GMT"),
                ("Accept-Ranges", "bytes"), ("ETag", '"b6e6b0a8b61fd81:0"'), ("Server", "Microsoft-IIS/10.0"),
                ("Date", http_date()), ("Content-Length", str(len(body)))]
        return HttpResponse(200, "OK", hdrs, b"" if method == "HEAD" else body)
    body = ("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" "
            "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n<html><head><title>404 - File or directory "
            "not found.</title></head><body><h2>404 - File or directory not found.</h2></body></html>\r\n").encode()
    hdrs = [("Content-Type", "text/html"), ("Server", "Microsoft-IIS/10.0"), ("Date", http_date()),
            ("Content-Length", str(len(body)))]
    return HttpResponse(404, "Not Found", hdrs, b"" if method == "HEAD" else body)


def _httpd(app: App, method: str, path: str, headers: dict[str, str], tls: bool) -> HttpResponse:
    body = b"<html><body><h1>It works!</h1></body></html>\n"
    hdrs = [("Date", http_date()), ("Server", "Apache/2.4.52 (Unix)"), ("Last-Modified", "Mon, 11 Jun 2007 18:53:14 GMT"),
            ("ETag", '"2d-432a5e4a73a80"'), ("Accept-Ranges", "bytes"), ("Content-Length", str(len(body))),
            ("Content-Type", "text/html")]
    return HttpResponse(200, "OK", hdrs, b"" if method == "HEAD" else body)


def _coredns(app: App, method: str, path: str, headers: dict[str, str], tls: bool) -> HttpResponse:
    if path.startswith("/health") or path.startswith("/ready"):
        body = b"OK"
    else:
        body = (b"# HELP coredns_build_info A metric with a constant '1' value labeled by version, revision, and "
                b"goversion from which CoreDNS was built.\n# TYPE coredns_build_info gauge\n"
                b"coredns_build_info{goversion=\"go1.16.4\",revision=\"053c4d5\",version=\"1.8.4\"} 1\n")
    hdrs = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Date", http_date()),
            ("Content-Length", str(len(body)))]
    return HttpResponse(200, "OK", hdrs, b"" if method == "HEAD" else body)


def _apiserver(app: App, method: str, path: str, headers: dict[str, str], tls: bool) -> HttpResponse:
    if not tls:
        return HttpResponse(400, "Bad Request", [], b"Client sent an HTTP request to an HTTPS server.\n",
                            version="HTTP/1.0")
    version = app.server
    if path.rstrip("/") in ("/version",) and version:
        body = (json.dumps(json.loads(version), indent=2) + "\n").encode()
        status, reason = 200, "OK"
    elif path.rstrip("/") in ("/healthz", "/livez", "/readyz"):
        body, status, reason = b"ok", 200, "OK"
    else:
        body = (json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": f'forbidden: User "system:anonymous" cannot get path "{path}"',
                            "reason": "Forbidden", "details": {}, "code": 403}, indent=2) + "\n").encode()
        status, reason = 403, "Forbidden"
    hdrs = [("Audit-Id", "2b8e6e1c-0000-4000-8000-000000000000"), ("Cache-Control", "no-cache, private"),
            ("Content-Type", "application/json" if body.startswith(b"{") else "text/plain; charset=utf-8"),
            ("X-Content-Type-Options", "nosniff"), ("Date", http_date()), ("Content-Length", str(len(body)))]
    return HttpResponse(status, reason, hdrs, b"" if method == "HEAD" else body, version="HTTP/2")


def _kubelet(app: App, method: str, path: str, headers: dict[str, str], tls: bool) -> HttpResponse:
    if not tls:
        return HttpResponse(400, "Bad Request", [], b"Client sent an HTTP request to an HTTPS server.\n",
                            version="HTTP/1.0")
    body = b"Unauthorized"
    return HttpResponse(401, "Unauthorized", [("Date", http_date()), ("Content-Length", str(len(body))),
                                              ("Content-Type", "text/plain; charset=utf-8")],
                        b"" if method == "HEAD" else body)


def _generic(app: App, method: str, path: str, headers: dict[str, str], tls: bool) -> HttpResponse:
    body = b"OK\n"
    return HttpResponse(200, "OK", [("Date", http_date()), ("Content-Length", str(len(body))),
                                    ("Content-Type", "text/plain; charset=utf-8")], b"" if method == "HEAD" else body)


_ANSWER = {"nginx": _nginx, "iis": _iis, "httpd": _httpd, "coredns": _coredns, "kube-apiserver": _apiserver,
           "kubelet": _kubelet}


def apps_in_pod(pod: dict) -> list[App]:
    """The listeners of a pod's containers, from their images (and declared containerPorts)."""
    out: list[App] = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        image = c.get("image") or ""
        name = images.short_name(image)
        declared = {(p.get("containerPort"), p.get("protocol") or "TCP") for p in c.get("ports") or []
                    if p.get("containerPort")}
        if "nginx" in name:
            t = images.tag(image)
            out.append(App("nginx", {(80, "TCP")} | declared, server=t if t[:1].isdigit() else NGINX_VERSION))
        elif name == "iis" or "servercore/iis" in image:
            out.append(App("iis", {(80, "TCP")} | declared))
        elif name == "coredns":
            out.append(App("coredns", {(53, "UDP"), (53, "TCP"), (9153, "TCP"), (8080, "TCP"), (8181, "TCP")}))
        elif name == "httpd":
            out.append(App("httpd", {(80, "TCP")} | declared))
        elif name == "kube-apiserver":
            out.append(App("kube-apiserver", {(6443, "TCP")}, tls_ports={6443}))
        elif declared:
            out.append(App("generic", declared))
    return out


def node_apps(node: dict, control_plane: bool, version_json: str) -> list[App]:
    """Host listeners of a node: kubelet (10250, TLS), sshd, and the API server on control-plane nodes."""
    apps = [App("kubelet", {(10250, "TCP")}, tls_ports={10250}), App("sshd", {(22, "TCP")})]
    if control_plane:
        apps.append(App("kube-apiserver", {(6443, "TCP")}, tls_ports={6443}, server=version_json))
        apps.append(App("etcd", {(2379, "TCP"), (2380, "TCP")}, tls_ports={2379, 2380}))
    return apps


def app_for(apps: list[App], port: int, proto: str) -> App | None:
    for a in apps:
        if a.listens(port, proto):
            return a
    return None


def welcome_lengths() -> dict[str, int]:
    """Body sizes (nginx 615, IIS 703) — what real servers send."""
    return {"nginx": len(NGINX_WELCOME.encode()), "iis": len(IIS_START.encode())}

