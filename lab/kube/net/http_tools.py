"""curl, wget (BusyBox), nc (OpenBSD netcat) and ping (iputils) over the lab network, with their real output,
messages and exit codes; every wait (DNS and TCP timeouts, -m/-T/-w limits) takes emulated clock time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..controllers.podutil import pod_ip
from .apps import HttpResponse
from .commands import Exec, Proc, command
from .network import OK, REFUSED, Conn

DNS_TIMEOUT = 10.0        # musl resolver: 5 s × 2 attempts
TCP_TIMEOUT = 130.0       # Linux SYN retries before connect() gives up
CURL_VERSION = "7.83.1"


@dataclass
class Fetch:
    """The outcome of one HTTP request: `error` is None on a response (of any status)."""

    error: str | None = None       # dns | dns-timeout | refused | timeout | tls | bad-url | protocol
    waited: float = 0.0            # emulated seconds spent
    ip: str = ""
    port: int = 0
    response: HttpResponse | None = None
    conn: Conn | None = None
    limit: str = ""                # what ended a timeout: "max" | "connect" | "tcp"
    trace: list[str] = field(default_factory=list)


def parse_url(url: str, default_scheme: str = "http") -> tuple[str, str, int, str] | None:
    if "://" not in url:
        url = f"{default_scheme}://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


async def fetch(ex: Exec, url: str, *, method: str = "GET", max_time: float | None = None,
                connect_timeout: float | None = None, insecure: bool = False, cacert: bool = False,
                user_agent: str = f"curl/{CURL_VERSION}", dns_timeout: float = DNS_TIMEOUT,
                tcp_timeout: float = TCP_TIMEOUT) -> Fetch:
    """Resolve, connect and ask: the same path every HTTP client in a pod takes."""
    parsed = parse_url(url)
    if parsed is None:
        return Fetch("bad-url")
    scheme, host, port, path = parsed
    ans = ex.net.resolve(ex.pod, host)
    if ans.status == "timeout":
        if max_time is not None and max_time <= dns_timeout:
            await ex.sleep(max_time)
            return Fetch("timeout", max_time, limit="resolve")
        await ex.sleep(dns_timeout)
        return Fetch("dns-timeout", dns_timeout)
    if ans.status != "ok" or not ans.addresses:
        return Fetch("dns")
    ip = ans.addresses[0]
    conn = ex.net.connect(ex.pod, ip, port, "TCP")
    if conn.outcome == REFUSED:
        return Fetch("refused", 0.0, ip, port, conn=conn)
    if conn.outcome != OK:
        limits = [(tcp_timeout, "tcp")]
        if connect_timeout:
            limits.append((connect_timeout, "connect"))
        if max_time:
            limits.append((max_time, "max"))
        wait, which = min(limits)
        await ex.sleep(wait)
        return Fetch("timeout", wait, ip, port, conn=conn, limit=which)
    app = conn.app
    tls_port = conn.port in (app.tls_ports if app else set())
    if scheme == "https" and not tls_port:
        return Fetch("tls", 0.0, ip, port, conn=conn)
    if scheme == "https" and not (insecure or cacert):
        return Fetch("cert", 0.0, ip, port, conn=conn)
    headers = {"Host": host if port in (80, 443) else f"{host}:{port}", "User-Agent": user_agent, "Accept": "*/*"}
    resp = app.http(method, path, headers, tls=scheme == "https")
    size = len(resp.body)
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    ex.net.record_access(conn, f'{pod_ip(ex.pod) or "-"} - - [{stamp}] "{method} {path} HTTP/1.1" {resp.status} '
                               f'{size} "-" "{user_agent}" "-"')
    return Fetch(None, 0.0, ip, port, resp, conn)


# --- curl -------------------------------------------------------------------------------------------------------------
_CURL_ARG = {"m": "max-time", "o": "output", "w": "write-out", "X": "request", "H": "header", "d": "data",
             "A": "user-agent", "u": "user", "e": "referer", "x": "proxy", "E": "cert", "r": "range",
             "T": "upload-file"}
_CURL_FLAG = {"s": "silent", "S": "show-error", "f": "fail", "I": "head", "i": "include", "L": "location",
              "k": "insecure", "v": "verbose", "4": "ipv4", "6": "ipv6", "N": "no-buffer", "q": "disable",
              "g": "globoff", "G": "get"}
_CURL_LONG_ARG = set(_CURL_ARG.values()) | {"connect-timeout", "cacert", "resolve", "retry", "data-raw",
                                            "data-binary", "noproxy", "interface", "cert", "key"}


def _parse_curl(argv: list[str]) -> tuple[dict, list[str]] | str:
    opts: dict = {"header": []}
    urls: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and len(a) > 2:
            name, eq, val = a[2:].partition("=")
            if name in _CURL_LONG_ARG:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        return f"curl: option --{name}: requires parameter"
                    val = argv[i]
                if name == "header":
                    opts["header"].append(val)
                else:
                    opts[name] = val
            else:
                opts[name] = True
        elif a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                ch = a[j]
                if ch in _CURL_ARG:
                    val = a[j + 1:]
                    if not val:
                        i += 1
                        if i >= len(argv):
                            return f"curl: option -{ch}: requires parameter"
                        val = argv[i]
                    if ch == "H":
                        opts["header"].append(val)
                    else:
                        opts[_CURL_ARG[ch]] = val
                    break
                if ch in _CURL_FLAG:
                    opts[_CURL_FLAG[ch]] = True
                else:
                    return f"curl: option -{ch}: is unknown"
                j += 1
        else:
            urls.append(a)
        i += 1
    return opts, urls


def _ms(seconds: float) -> int:
    return int(seconds * 1000) + 1


def _write_out(fmt: str, r: Fetch) -> str:
    code = f"{r.response.status:03d}" if r.response else "000"
    vals = {"http_code": code, "response_code": code, "remote_ip": r.ip, "remote_port": str(r.port or ""),
            "size_download": str(len(r.response.body) if r.response else 0), "time_total": f"{r.waited:.6f}",
            "content_type": (r.response.header("Content-Type") or "") if r.response else "",
            "exitcode": ""}
    out = fmt
    for k, v in vals.items():
        out = out.replace("%{" + k + "}", v)
    return out.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")


def _meter(total: int) -> str:
    head = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
            "                                 Dload  Upload   Total   Spent    Left  Speed\n")
    return head + (f"\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
                   f"\r100 {total:>5}  100 {total:>5}    0     0   600k      0 --:--:-- --:--:-- --:--:--  600k\n"
                   if total else "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0\n")


@command("curl")
async def curl(ex: Exec, argv: list[str], stdin: str) -> Proc:
    parsed = _parse_curl(argv)
    if isinstance(parsed, str):
        return Proc("", parsed + "\ncurl: try 'curl --help' or 'curl --manual' for more information\n", 2)
    opts, urls = parsed
    if opts.get("version"):
        return Proc(f"curl {CURL_VERSION} (x86_64-alpine-linux-musl) libcurl/{CURL_VERSION} OpenSSL/1.1.1o "
                    "zlib/1.2.12\nProtocols: dict file ftp ftps gopher gophers http https imap imaps mqtt pop3 "
                    "pop3s rtsp smb smbs smtp smtps telnet tftp\n")
    if not urls:
        return Proc("", "curl: no URL specified!\ncurl: try 'curl --help' or 'curl --manual' for more information\n",
                    2)
    silent, show_err = bool(opts.get("silent")), bool(opts.get("show-error"))
    loud = not silent or show_err
    method = "HEAD" if opts.get("head") else (opts.get("request") or ("POST" if opts.get("data") else "GET"))
    max_time = _float(opts.get("max-time"))
    conn_to = _float(opts.get("connect-timeout"))
    url = urls[0]
    scheme_ok = "://" not in url or url.split("://", 1)[0] in ("http", "https")
    if not scheme_ok:
        return _curl_err(1, f'Protocol "{url.split("://", 1)[0]}" not supported or disabled in libcurl', loud, opts)
    host = (parse_url(url) or ("", "", 0, ""))[1]
    r = await fetch(ex, url, method=method, max_time=max_time, connect_timeout=conn_to,
                    insecure=bool(opts.get("insecure")), cacert=bool(opts.get("cacert")),
                    user_agent=opts.get("user-agent") or f"curl/{CURL_VERSION}")
    wout = _write_out(opts["write-out"], r) if opts.get("write-out") else ""
    verbose = ""
    if opts.get("verbose") and r.ip:
        verbose = f"*   Trying {r.ip}:{r.port}...\n"
    if r.error == "bad-url":
        return _curl_err(3, "URL using bad/illegal format or missing URL", loud, opts, wout)
    if r.error == "dns" or r.error == "dns-timeout":
        return _curl_err(6, f"Could not resolve host: {host}", loud, opts, wout)
    if r.error == "refused":
        return _curl_err(7, f"Failed to connect to {host} port {r.port} after 0 ms: Connection refused", loud, opts,
                         wout, verbose)
    if r.error == "timeout":
        if r.limit == "resolve":
            msg = f"Resolving timed out after {_ms(r.waited)} milliseconds"
        elif r.limit == "tcp":
            msg = f"Failed to connect to {host} port {r.port} after {_ms(r.waited)} ms: Connection timed out"
        else:
            msg = f"Connection timed out after {_ms(r.waited)} milliseconds"
        return _curl_err(28, msg, loud, opts, wout, verbose)
    if r.error == "tls":
        return _curl_err(35, "error:1408F10B:SSL routines:ssl3_get_record:wrong version number", loud, opts, wout)
    if r.error == "cert":
        return _curl_err(60, "SSL certificate problem: unable to get local issuer certificate\nMore details here: "
                             "https://curl.se/docs/sslcerts.html\n\ncurl failed to verify the legitimacy of the "
                             "server and therefore could not\nestablish a secure connection to it. To learn more "
                             "about this situation and\nhow to fix it, please visit the web page mentioned above.",
                         loud, opts, wout)
    resp = r.response
    assert resp is not None
    if opts.get("fail") and resp.status >= 400:
        return _curl_err(22, f"The requested URL returned error: {resp.status}", loud, opts, wout)
    out = ""
    if opts.get("output") is None:
        if method == "HEAD" or opts.get("head"):
            out = resp.head_text()
        elif opts.get("include"):
            out = resp.head_text() + resp.body.decode(errors="replace")
        else:
            out = resp.body.decode(errors="replace")
    err = ""
    if opts.get("verbose"):
        err += verbose + f"* Connected to {host} ({r.ip}) port {r.port} (#0)\n> {method} / HTTP/1.1\n> Host: {host}\n" \
               f"> User-Agent: curl/{CURL_VERSION}\n> Accept: */*\n>\n" + "".join(
                   f"< {line}\n" for line in resp.head_text().rstrip("\r\n").split("\r\n")) + "<\n"
    elif not silent:
        err += _meter(len(resp.body))
    return Proc(out + wout, err, 0)


def _curl_err(code: int, msg: str, loud: bool, opts: dict, wout: str = "", verbose: str = "") -> Proc:
    err = ""
    if opts.get("verbose"):
        err += verbose
    elif not opts.get("silent"):
        err += _meter(0)
    if loud:
        err += f"curl: ({code}) {msg}\n"
    return Proc(wout, err, code)


def _float(v: object) -> float | None:
    if v in (None, True):
        return None
    try:
        return float(str(v))
    except ValueError:
        return None


# --- wget (BusyBox) ---------------------------------------------------------------------------------------------------
@command("wget")
async def wget(ex: Exec, argv: list[str], stdin: str) -> Proc:
    quiet = spider = server_resp = False
    output: str | None = None
    timeout: float | None = None
    urls: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-q", "--quiet"):
            quiet = True
        elif a == "--spider":
            spider = True
        elif a in ("-S", "--server-response"):
            server_resp = True
        elif a in ("-O", "--output-document") and i + 1 < len(argv):
            output = argv[i + 1]
            i += 1
        elif a.startswith("-O") and len(a) > 2:
            output = a[2:]
        elif a.startswith("--output-document="):
            output = a.split("=", 1)[1]
        elif a in ("-T", "--timeout") and i + 1 < len(argv):
            timeout = _float(argv[i + 1])
            i += 1
        elif a.startswith("-T") and len(a) > 2:
            timeout = _float(a[2:])
        elif a.startswith("--timeout="):
            timeout = _float(a.split("=", 1)[1])
        elif a == "-qO-":
            quiet, output = True, "-"
        elif a in ("-U", "--user-agent", "--header") and i + 1 < len(argv):
            i += 1
        elif a.startswith("-") and set(a[1:]) <= {"q", "S"}:
            quiet = quiet or "q" in a
            server_resp = server_resp or "S" in a
        elif not a.startswith("-"):
            urls.append(a)
        i += 1
    if not urls:
        return Proc("", "BusyBox v1.35.0 multi-call binary.\n\nUsage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] "
                        "[--header STR]\n\t[--post-data STR | --post-file FILE] [-Y on/off]\n\t[--no-check-certificate] "
                        "[-P DIR] [-U AGENT] [-T SEC] URL...\n", 1)
    url = urls[0]
    parsed = parse_url(url)
    if parsed is None:
        return Proc("", f"wget: not an http or ftp url: {url}\n", 1)
    host = parsed[1]
    r = await fetch(ex, url, method="GET", max_time=timeout if timeout is not None else 900.0,
                    user_agent="Wget", insecure=True)
    err = ""
    if r.error in ("dns", "dns-timeout"):
        return Proc("", f"wget: bad address '{host}'\n", 1)
    if not quiet and r.ip:
        err += f"Connecting to {host} ({r.ip}:{r.port})\n"
    if r.error == "refused":
        return Proc("", err + f"wget: can't connect to remote host ({r.ip}): Connection refused\n", 1)
    if r.error == "timeout":
        if r.limit == "tcp":
            return Proc("", err + f"wget: can't connect to remote host ({r.ip}): Connection timed out\n", 1)
        return Proc("", err + "wget: download timed out\n", 1)
    if r.error in ("tls", "cert"):
        return Proc("", err + "wget: error getting response: Connection reset by peer\n", 1)
    resp = r.response
    assert resp is not None
    if server_resp:
        err += "".join(f"  {line}\n" for line in resp.head_text().rstrip("\r\n").split("\r\n"))
    if resp.status >= 400:
        return Proc("", err + f"wget: server returned error: HTTP/1.1 {resp.status} {resp.reason}\n", 1)
    if spider:
        return Proc("", err + ("" if quiet else "remote file exists\n"), 0)
    body = resp.body.decode(errors="replace")
    size = len(resp.body)
    if output == "-":
        if not quiet:
            err += f"writing to stdout\n-                    100% |********************************| {size:>5}  " \
                   "0:00:00 ETA\nwritten to stdout\n"
        return Proc(body, err, 0)
    name = output or (parsed[3].rsplit("/", 1)[-1] or "index.html")
    if not quiet:
        err += f"saving to '{name}'\n{name[:20]:<20} 100% |********************************| {size:>5}  0:00:00 ETA\n" \
               f"'{name}' saved\n"
    return Proc("", err, 0)


# --- nc (OpenBSD netcat) -------------------------------------------------------------------------------------------
_SERVICES = {80: "http", 443: "https", 53: "domain", 22: "ssh", 6443: "sun-sr-https", 10250: "*", 8080: "http-alt",
             9153: "*", 2379: "etcd-client"}


@command("nc", "netcat", "ncat")
async def nc(ex: Exec, argv: list[str], stdin: str) -> Proc:
    flags: set[str] = set()
    wait: float | None = None
    pos: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                ch = a[j]
                if ch == "w":
                    rest = a[j + 1:]
                    if not rest:
                        i += 1
                        rest = argv[i] if i < len(argv) else ""
                    wait = _float(rest)
                    break
                flags.add(ch)
                j += 1
        else:
            pos.append(a)
        i += 1
    if "l" in flags:
        return Proc("", "nc: listening is not supported in this lab\n", 1)
    if len(pos) < 2:
        return Proc("", "usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]\n\t  [-m minttl] "
                        "[-O length] [-P proxy_username] [-p source_port]\n\t  [-q seconds] [-s sourceaddr] "
                        "[-T keyword] [-V rtable] [-W recvlimit] [-w timeout]\n\t  [-X proxy_protocol] "
                        "[-x proxy_address[:port]] [destination] [port]\n", 1)
    host, port_s = pos[0], pos[1]
    verbose, udp = "v" in flags, "u" in flags
    try:
        port = int(port_s)
    except ValueError:
        return Proc("", f"nc: port number invalid: {port_s}\n", 1)
    ans = ex.net.resolve(ex.pod, host)
    if ans.status == "timeout":
        await ex.sleep(DNS_TIMEOUT)
        return Proc("", f'nc: getaddrinfo for host "{host}" port {port}: Try again\n', 1)
    if ans.status != "ok" or not ans.addresses:
        return Proc("", f'nc: getaddrinfo for host "{host}" port {port}: Name does not resolve\n', 1)
    ip = ans.addresses[0]
    proto = "UDP" if udp else "TCP"
    svc = _SERVICES.get(port, "*")
    if udp:
        return Proc("", f"Connection to {host} ({ip}) {port} port [udp/{svc}] succeeded!\n" if verbose else "", 0)
    conn = ex.net.connect(ex.pod, ip, port, proto)
    if conn.outcome == REFUSED:
        return Proc("", f"nc: connect to {host} ({ip}) port {port} (tcp) failed: Connection refused\n"
                    if verbose else "", 1)
    if conn.outcome != OK:
        if wait is not None and wait < TCP_TIMEOUT:
            await ex.sleep(wait)
            return Proc("", f"nc: connect to {host} ({ip}) port {port} (tcp) timed out: Operation now in progress\n"
                        if verbose else "", 1)
        await ex.sleep(TCP_TIMEOUT)
        return Proc("", f"nc: connect to {host} ({ip}) port {port} (tcp) failed: Operation timed out\n"
                    if verbose else "", 1)
    msg = f"Connection to {host} ({ip}) {port} port [tcp/{svc}] succeeded!\n" if verbose else ""
    if "z" in flags or not stdin:
        return Proc("", msg, 0)
    first = stdin.split("\r\n", 1)[0].split("\n", 1)[0].split()
    if len(first) >= 2 and conn.app is not None and conn.app.name not in ("coredns", "sshd", "etcd"):
        resp = conn.app.http(first[0], first[1], {})
        return Proc(resp.head_text() + resp.body.decode(errors="replace"), msg, 0)
    if conn.app is not None and conn.app.name == "sshd":
        return Proc("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.2\r\n", msg, 0)
    return Proc("", msg, 0)


# --- ping (iputils) --------------------------------------------------------------------------------------------------
@command("ping")
async def ping(ex: Exec, argv: list[str], stdin: str) -> Proc:
    count, deadline, host = 4, 1.0, None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-c" and i + 1 < len(argv):
            count = int(argv[i + 1])
            i += 1
        elif a.startswith("-c") and a[2:].isdigit():
            count = int(a[2:])
        elif a == "-W" and i + 1 < len(argv):
            deadline = float(argv[i + 1])
            i += 1
        elif not a.startswith("-"):
            host = a
        i += 1
    if host is None:
        return Proc("", "ping: usage error: Destination address required\n", 1)
    ans = ex.net.resolve(ex.pod, host)
    if ans.status != "ok" or not ans.addresses:
        if ans.status == "timeout":
            await ex.sleep(DNS_TIMEOUT)
        return Proc("", f"ping: {host}: Name does not resolve\n" if ans.status != "timeout" else
                    f"ping: {host}: Try again\n", 2)
    ip = ans.addresses[0]
    conn = ex.net.connect(ex.pod, ip, 0, "ICMP")
    lines = [f"PING {host} ({ip}) 56(84) bytes of data."]
    ok = conn.outcome == OK
    await ex.sleep(max(count - 1, 0) + (0 if ok else deadline))
    if ok:
        lines += [f"64 bytes from {ip}: icmp_seq={n} ttl=63 time=0.{90 + n:03d} ms" for n in range(1, count + 1)]
    lines += ["", f"--- {host} ping statistics ---",
              f"{count} packets transmitted, {count if ok else 0} received, {0 if ok else 100}% packet loss, "
              f"time {max(count - 1, 0) * 1000 + 3}ms"]
    if ok:
        lines.append("rtt min/avg/max/mdev = 0.091/0.093/0.095/0.002 ms")
    return Proc("\n".join(lines) + "\n", "", 0 if ok else 1)
