"""A Windows PowerShell 5.1 subset for exec in Windows pods: `powershell [-NoProfile] -Command <script>` (and
-EncodedCommand) running `iwr`/`Invoke-WebRequest`/`curl` (alias), `Invoke-RestMethod`, `Resolve-DnsName`,
`Test-NetConnection`, `Write-Output`/`Write-Host`, `Start-Sleep`, `Select-Object`, `ForEach-Object`,
`Out-Null`, `(...).Property`, `$var = ...`, `try {} catch {}`, `exit N`, and native programs (nslookup,
curl.exe, hostname, ping). Output and error records look like powershell.exe's; a failed last statement
exits 1."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from .apps import HttpResponse
from .commands import Exec, Proc, command, run_argv
from .http_tools import fetch

WIN_DNS_TIMEOUT = 10.0
WIN_TCP_TIMEOUT = 21.0      # Windows: SYN retransmits 3 + 6 + 12 s
IWR_DEFAULT_TIMEOUT = 100.0


class PSError(Exception):
    """An error record; `terminating` errors stop the script."""

    def __init__(self, message: str, category: str, fqid: str, target: str = "", terminating: bool = False,
                 command: str = "") -> None:
        super().__init__(message)
        self.message, self.category, self.fqid = message, category, fqid
        self.target, self.terminating, self.command = target, terminating, command


@dataclass
class WebResponse:
    response: HttpResponse
    basic: bool = True

    def prop(self, name: str) -> Any:
        r = self.response
        n = name.lower()
        body = r.body.decode(errors="replace")
        raw = f"{r.version} {r.status} {r.reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in r.headers) + "\r\n" + body
        table = {"statuscode": r.status, "statusdescription": r.reason, "content": body, "rawcontent": raw,
                 "rawcontentlength": len(r.body), "headers": {k: v for k, v in r.headers}}
        if n not in table:
            return None
        return table[n]

    def format(self) -> str:
        r = self.response
        body = r.body.decode(errors="replace")
        raw = f"{r.version} {r.status} {r.reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in r.headers) + "\r\n" + body
        pad = " " * 20

        def multi(text: str) -> str:
            text = text.replace("\r\n", "\n")
            if len(text) > 200:
                text = text[:200] + "..."
            return ("\r\n" + pad).join(text.split("\n"))
        hdrs = ", ".join(f"[{k}, {v}]" for k, v in r.headers[:4]) + ("..." if len(r.headers) > 4 else "")
        links = re.findall(r'<a href="([^"]+)">([^<]*)</a>', body)
        link_txt = ", ".join(f'@{{outerHTML=<a href="{h}">{t}</a>; tagName=A; href={h}}}' for h, t in links)
        lines = [f"StatusCode        : {r.status}", f"StatusDescription : {r.reason}",
                 f"Content           : {multi(body)}", f"RawContent        : {multi(raw)}", "Forms             : ",
                 f"Headers           : {{{hdrs}}}", "Images            : {}", "InputFields       : {}",
                 f"Links             : {{{link_txt}}}", "ParsedHtml        : ",
                 f"RawContentLength  : {len(r.body)}"]
        return "\r\n" + "\r\n".join(lines) + "\r\n\r\n\r\n"


@dataclass
class DnsRecord:
    name: str
    ip: str


@dataclass
class TncResult:
    computer: str
    remote: str
    port: int
    source: str
    ok: bool

    def format(self) -> str:
        lines = [f"ComputerName     : {self.computer}", f"RemoteAddress    : {self.remote}",
                 f"RemotePort       : {self.port}", "InterfaceAlias   : vEthernet (Ethernet)",
                 f"SourceAddress    : {self.source}", f"TcpTestSucceeded : {self.ok}"]
        return "\r\n" + "\r\n".join(lines) + "\r\n\r\n\r\n"

    def prop(self, name: str) -> Any:
        return {"tcptestsucceeded": self.ok, "remoteaddress": self.remote, "remoteport": self.port,
                "computername": self.computer}.get(name.lower())


# --- command line -------------------------------------------------------------------------------------------------
@command("powershell", "pwsh")
async def powershell(ex: Exec, argv: list[str], stdin: str) -> Proc:
    args = argv[1:]
    script: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        low = a.lower()
        if low in ("-command", "-c", "/c", "-com"):
            script = " ".join(args[i + 1:])
            break
        if low in ("-encodedcommand", "-enc", "-e", "-ec") and i + 1 < len(args):
            try:
                script = base64.b64decode(args[i + 1]).decode("utf-16-le")
            except Exception:
                return Proc("", "Cannot process the command because the value specified with -EncodedCommand is "
                                "not properly encoded. The value must be Base64 encoded.\r\n", 1)
            break
        if low in ("-executionpolicy", "-ep", "-inputformat", "-outputformat", "-windowstyle") and i + 1 < len(args):
            i += 2
            continue
        if low.startswith("-"):
            i += 1
            continue
        script = " ".join(args[i:])
        break
    if script is None:
        script = stdin
    if script.strip() == "-":
        script = stdin
    return await PowerShell(ex).run(script)


@command("cmd")
async def cmd(ex: Exec, argv: list[str], stdin: str) -> Proc:
    args = argv[1:]
    if args and args[0].lower() in ("/c", "/k"):
        text = " ".join(args[1:]).strip().strip('"')
        return await run_argv(ex, _split_words(text), stdin)
    return Proc("Microsoft Windows [Version 10.0.17763.1999]\r\n(c) 2018 Microsoft Corporation. All rights "
                "reserved.\r\n\r\nC:\\>", "", 0)


@command("ipconfig")
async def ipconfig(ex: Exec, argv: list[str], stdin: str) -> Proc:
    ip = (ex.pod.get("status") or {}).get("podIP") or ""
    gw = ".".join(ip.split(".")[:3] + ["1"]) if ip else ""
    return Proc(f"\r\nWindows IP Configuration\r\n\r\n\r\nEthernet adapter vEthernet (Ethernet):\r\n\r\n"
                f"   Connection-specific DNS Suffix  . : {ex.ctx.cluster_domain()}\r\n"
                f"   IPv4 Address. . . . . . . . . . . : {ip}\r\n   Subnet Mask . . . . . . . . . . . : 255.255.255.192\r\n"
                f"   Default Gateway . . . . . . . . . : {gw}\r\n", "", 0)


@command("whoami")
async def whoami(ex: Exec, argv: list[str], stdin: str) -> Proc:
    return Proc("user manager\\containeradministrator\r\n", "", 0)


def _split_words(text: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)
            for m in re.finditer(r'"([^"]*)"|\'([^\']*)\'|(\S+)', text)]


# --- the interpreter ----------------------------------------------------------------------------------------------
def _split_top(text: str, seps: str) -> list[tuple[str, int]]:
    """Split on any char of `seps` outside quotes, (), {}, returning (part, offset)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        elif ch in seps and depth == 0:
            parts.append((text[start:i], start))
            start = i + 1
    parts.append((text[start:], start))
    return parts


_CMDLET_NAMES = {"iwr": "Invoke-WebRequest", "curl": "Invoke-WebRequest", "wget": "Invoke-WebRequest",
                 "invoke-webrequest": "Invoke-WebRequest", "irm": "Invoke-RestMethod",
                 "invoke-restmethod": "Invoke-RestMethod", "resolve-dnsname": "Resolve-DnsName",
                 "test-netconnection": "Test-NetConnection", "tnc": "Test-NetConnection",
                 "write-output": "Write-Output", "echo": "Write-Output", "write": "Write-Output",
                 "write-host": "Write-Host", "start-sleep": "Start-Sleep", "sleep": "Start-Sleep",
                 "select-object": "Select-Object", "select": "Select-Object", "foreach-object": "ForEach-Object",
                 "%": "ForEach-Object", "out-null": "Out-Null", "out-string": "Out-String",
                 "write-error": "Write-Error", "get-content": "Get-Content", "cat": "Get-Content",
                 "type": "Get-Content"}
_NATIVE = {"nslookup", "nslookup.exe", "curl.exe", "hostname", "hostname.exe", "ping", "ping.exe", "ipconfig",
           "ipconfig.exe", "whoami", "cmd", "cmd.exe"}


@dataclass
class _Cmd:
    name: str
    text: str
    named: dict[str, Any] = field(default_factory=dict)
    positional: list[Any] = field(default_factory=list)
    script_block: str | None = None


class PowerShell:
    """Runs one -Command script."""

    def __init__(self, ex: Exec) -> None:
        self.ex = ex
        self.vars: dict[str, Any] = {"true": True, "false": False, "null": None}
        self.out: list[str] = []
        self.err: list[str] = []
        self.line_text = ""
        self.stop_on_error = False

    async def run(self, script: str) -> Proc:
        ok = True
        try:
            ok = await self._block(script)
        except _Exit as e:
            return Proc("".join(self.out), "".join(self.err), e.code)
        except PSError as e:
            self._print_error(e)
            return Proc("".join(self.out), "".join(self.err), 1)
        return Proc("".join(self.out), "".join(self.err), 0 if ok else 1)

    async def _block(self, script: str) -> bool:
        ok = True
        statements = [(s, o) for chunk, base in _split_top(script, "\n") for s, o in
                      ((p, base + q) for p, q in _split_top(chunk, ";"))]
        self.line_text = script.split("\n", 1)[0].strip("\r")
        for stmt, offset in statements:
            if not stmt.strip():
                continue
            ok = await self._statement(stmt.strip(), offset + len(stmt) - len(stmt.lstrip()))
        return ok

    async def _statement(self, stmt: str, offset: int) -> bool:
        m = re.match(r"(?is)^try\s*\{(.*)\}\s*catch\s*\{(.*)\}$", stmt)
        if m:
            saved = self.stop_on_error
            self.stop_on_error = True
            try:
                await self._block(m.group(1))
                return True
            except PSError as e:
                self.vars["_"] = e
                return await self._block(m.group(2))
            finally:
                self.stop_on_error = saved
        m = re.match(r"(?i)^exit\s*(-?\d+)?$", stmt)
        if m:
            raise _Exit(int(m.group(1) or 0))
        m = re.match(r"^\$(\w+)\s*=\s*(.+)$", stmt, re.S)
        if m:
            name = m.group(1)
            if name.lower() in ("erroractionpreference",):
                self.stop_on_error = m.group(2).strip().strip("'\"").lower() == "stop"
                return True
            try:
                value = await self._value(m.group(2).strip(), offset + m.start(2))
            except PSError as e:
                return self._fail(e)
            self.vars[name.lower()] = value
            return True
        try:
            values = await self._value(stmt, offset, as_list=True)
        except PSError as e:
            return self._fail(e)
        for v in values:
            self._emit(v)
        return True

    def _fail(self, e: PSError) -> bool:
        if isinstance(e, _NativeFailed):
            return False  # a native program's failure only sets $? (its output is already written)
        if self.stop_on_error or e.terminating:
            raise e
        self._print_error(e)
        return False

    async def _value(self, text: str, offset: int, as_list: bool = False) -> Any:
        text = text.strip()
        m = re.match(r"^\((.*)\)\.(\w+)$", text, re.S)
        if m:
            inner = await self._value(m.group(1), offset + 1, as_list=True)
            vals = [_prop(v, m.group(2)) for v in inner]
            return vals if as_list else (vals[0] if len(vals) == 1 else vals)
        m = re.match(r"^\$(\w+)(?:\.(\w+))?(?:\.(\w+))?$", text)
        if m:
            v = self.vars.get(m.group(1).lower())
            for p in (m.group(2), m.group(3)):
                if p:
                    v = _prop(v, p)
            return [v] if as_list else v
        if re.match(r"^'.*'$|^\".*\"$", text, re.S):
            return [self._string(text)] if as_list else self._string(text)
        if re.match(r"^-?\d+$", text):
            return [int(text)] if as_list else int(text)
        stages = _split_top(text, "|")
        data: list[Any] = []
        for i, (stage, off) in enumerate(stages):
            cmd = self._parse(stage.strip(), offset + off)
            data = await self._invoke(cmd, data, first=i == 0, offset=offset + off)
        return data if as_list else (data[0] if len(data) == 1 else data)

    def _string(self, tok: str) -> str:
        if len(tok) >= 2 and tok[0] == tok[-1] == "'":
            return tok[1:-1]
        if len(tok) >= 2 and tok[0] == tok[-1] == '"':
            return re.sub(r"\$(\w+)", lambda m: _str(self.vars.get(m.group(1).lower(), "")), tok[1:-1])
        return tok

    def _parse(self, text: str, offset: int) -> _Cmd:
        m = re.match(r"^(\S+)\s*\{(.*)\}\s*$", text, re.S)
        if m and _CMDLET_NAMES.get(m.group(1).lower()) == "ForEach-Object":
            return _Cmd("ForEach-Object", text, script_block=m.group(2))
        tokens = [t for t in re.findall(r"'[^']*'|\"[^\"]*\"|\S+", text)]
        name = tokens[0] if tokens else ""
        cmd = _Cmd(name, text)
        i = 1
        while i < len(tokens):
            t = tokens[i]
            if t.startswith("-") and len(t) > 1 and not re.match(r"^-\d", t):
                key, colon, val = t[1:].partition(":")
                if colon:
                    cmd.named[key.lower()] = self._arg(val)
                elif i + 1 < len(tokens) and not tokens[i + 1].startswith("-") and key.lower() not in _SWITCHES:
                    cmd.named[key.lower()] = self._arg(tokens[i + 1])
                    i += 1
                else:
                    cmd.named[key.lower()] = True
            else:
                cmd.positional.append(self._arg(t))
            i += 1
        return cmd

    def _arg(self, tok: str) -> Any:
        if tok.startswith("$"):
            return self.vars.get(tok[1:].lower())
        if tok.startswith(("'", '"')):
            return self._string(tok)
        if re.fullmatch(r"\d+", tok):
            return int(tok)
        return tok

    async def _invoke(self, cmd: _Cmd, data: list[Any], first: bool, offset: int) -> list[Any]:
        low = cmd.name.lower()
        canonical = _CMDLET_NAMES.get(low)
        if canonical is None and low in _NATIVE:
            argv = [cmd.name] + _split_words(cmd.text)[1:]
            p = await run_argv(self.ex, argv, "")
            self.err.append(p.stderr)
            lines = p.stdout.replace("\r\n", "\n").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if p.code != 0:
                self.vars["lastexitcode"] = p.code
                self.out.extend(line + "\r\n" for line in lines)
                raise _NativeFailed()
            return lines
        if canonical is None:
            raise PSError(f"The term '{cmd.name}' is not recognized as the name of a cmdlet, function, script file, "
                          "or operable program. Check the spelling of the name, or if a path was included, verify "
                          "that the path is correct and try again.", f"ObjectNotFound: ({cmd.name}:String) []",
                          "CommandNotFoundException", command=cmd.text)
        handler = getattr(self, "_" + canonical.replace("-", "_").lower())
        stop = str(cmd.named.get("erroraction", cmd.named.get("ea", ""))).lower()
        try:
            return await handler(cmd, data)
        except PSError as e:
            e.command = e.command or cmd.text
            e.alias = cmd.name  # type: ignore[attr-defined]
            if stop in ("silentlycontinue", "ignore"):
                return []
            if stop == "stop":
                e.terminating = True
            raise

    # --- cmdlets ------------------------------------------------------------------------------------------------
    async def _invoke_webrequest(self, cmd: _Cmd, data: list[Any], rest: bool = False) -> list[Any]:
        url = cmd.named.get("uri") or (cmd.positional[0] if cmd.positional else None)
        if not url:
            raise PSError("Cannot validate argument on parameter 'Uri'. The argument is null or empty.",
                          "InvalidData: (:) [Invoke-WebRequest], ParameterBindingValidationException",
                          "ParameterArgumentValidationError,Microsoft.PowerShell.Commands.InvokeWebRequestCommand")
        timeout = cmd.named.get("timeoutsec")
        limit = float(timeout) if timeout not in (None, True, 0, "0") else IWR_DEFAULT_TIMEOUT
        method = str(cmd.named.get("method") or "GET").upper()
        r = await fetch(self.ex, str(url), method=method, max_time=limit, insecure=True,
                        user_agent="Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.17763.1971",
                        dns_timeout=WIN_DNS_TIMEOUT, tcp_timeout=WIN_TCP_TIMEOUT)
        kind = "Invoke-RestMethod" if rest else "Invoke-WebRequest"
        cls = "InvokeRestMethodCommand" if rest else "InvokeWebRequestCommand"
        web_cat = f"InvalidOperation: (System.Net.HttpWebRequest:HttpWebRequest) [{kind}], WebException"
        web_id = f"WebCmdletWebResponseException,Microsoft.PowerShell.Commands.{cls}"
        host = str(url).split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if r.error in ("dns", "dns-timeout"):
            raise PSError(f"The remote name could not be resolved: '{host}'", web_cat, web_id)
        if r.error == "timeout":
            if r.limit == "tcp":
                raise PSError("Unable to connect to the remote server", web_cat, web_id)
            raise PSError("The operation has timed out.", web_cat, web_id)
        if r.error in ("refused", "tls"):
            raise PSError("Unable to connect to the remote server", web_cat, web_id)
        if r.error == "bad-url":
            raise PSError("Invalid URI: The hostname could not be parsed.",
                          f"NotSpecified: (:) [{kind}], UriFormatException",
                          f"System.UriFormatException,Microsoft.PowerShell.Commands.{cls}")
        resp = r.response
        assert resp is not None
        if resp.status >= 400:
            text = re.sub(r"<[^>]+>", "\n", resp.body.decode(errors="replace"))
            text = "\r\n".join(ln.strip() for ln in text.splitlines() if ln.strip()) or f"{resp.status} {resp.reason}"
            raise PSError(text, web_cat, web_id)
        if rest:
            return [resp.body.decode(errors="replace")]
        if not cmd.named.get("usebasicparsing"):
            raise PSError("The response content cannot be parsed because the Internet Explorer engine is not "
                          "available, or Internet Explorer's first-launch configuration is not complete. Specify "
                          "the UseBasicParsing parameter and try again.",
                          f"NotImplemented: (:) [{kind}], NotSupportedException",
                          f"WebCmdletIEDomNotSupportedException,Microsoft.PowerShell.Commands.{cls}")
        return [WebResponse(resp)]

    async def _invoke_restmethod(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        return await self._invoke_webrequest(cmd, data, rest=True)

    async def _resolve_dnsname(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        name = str(cmd.named.get("name") or (cmd.positional[0] if cmd.positional else ""))
        server = cmd.named.get("server")
        ans = self.ex.net.resolve(self.ex.pod, name, str(server) if server else None)
        if ans.status == "timeout":
            await self.ex.sleep(WIN_DNS_TIMEOUT)
            raise PSError(f"{name} : This operation returned because the timeout period expired",
                          f"OperationTimeout: ({name}:String) [Resolve-DnsName], Win32Exception",
                          "ERROR_TIMEOUT,Microsoft.DnsClient.Commands.ResolveDnsName")
        if ans.status != "ok" or not ans.addresses:
            raise PSError(f"{name} : DNS name does not exist",
                          f"ResourceUnavailable: ({name}:String) [Resolve-DnsName], Win32Exception",
                          "DNS_ERROR_RCODE_NAME_ERROR,Microsoft.DnsClient.Commands.ResolveDnsName")
        return [DnsRecord(ans.name, ip) for ip in ans.addresses]

    async def _test_netconnection(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        host = str(cmd.named.get("computername") or (cmd.positional[0] if cmd.positional else ""))
        port = int(cmd.named.get("port") or (cmd.positional[1] if len(cmd.positional) > 1 else 0) or 0)
        quiet = str(cmd.named.get("informationlevel", "")).lower() == "quiet"
        ans = self.ex.net.resolve(self.ex.pod, host)
        if ans.status == "timeout":
            await self.ex.sleep(WIN_DNS_TIMEOUT)
        if ans.status != "ok" or not ans.addresses:
            self.out.append(f"WARNING: Name resolution of {host} failed\r\n")
            return [False] if quiet else []
        ip = ans.addresses[0]
        conn = self.ex.net.connect(self.ex.pod, ip, port or 0, "TCP" if port else "ICMP")
        ok = conn.outcome == "ok"
        if not ok:
            if conn.outcome == "timeout":
                await self.ex.sleep(WIN_TCP_TIMEOUT)
            self.out.append(f"WARNING: TCP connect to ({ip} : {port}) failed\r\n" if port else
                            f"WARNING: Ping to {ip} failed with status: TimedOut\r\n")
        if quiet:
            return [ok]
        return [TncResult(host, ip, port, (self.ex.pod.get("status") or {}).get("podIP") or "", ok)]

    async def _write_output(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        return list(data) + list(cmd.positional) + ([cmd.named["inputobject"]] if "inputobject" in cmd.named else [])

    async def _write_host(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        self.out.append(" ".join(_str(a) for a in cmd.positional) + "\r\n")
        return []

    async def _write_error(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        msg = " ".join(_str(a) for a in cmd.positional) or _str(cmd.named.get("message", ""))
        raise PSError(msg, "NotSpecified: (:) [Write-Error], WriteErrorException",
                      "Microsoft.PowerShell.Commands.WriteErrorException")

    async def _start_sleep(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        secs = cmd.named.get("seconds") or cmd.named.get("s") or (cmd.positional[0] if cmd.positional else 0)
        ms = cmd.named.get("milliseconds") or cmd.named.get("m")
        await self.ex.sleep(float(ms) / 1000 if ms else float(secs or 0))
        return []

    async def _select_object(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        expand = cmd.named.get("expandproperty") or cmd.named.get("exp") or cmd.named.get("expand")
        if expand:
            return [_prop(v, str(expand)) for v in data]
        props = cmd.named.get("property") or (cmd.positional[0] if cmd.positional else None)
        if props:
            names = [p.strip() for p in str(props).split(",")]
            return [_Selected({n: _prop(v, n) for n in names}) for v in data]
        return data

    async def _foreach_object(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        if cmd.script_block is not None:
            m = re.match(r"^\s*\$_\.(\w+)\s*$", cmd.script_block)
            if m:
                return [_prop(v, m.group(1)) for v in data]
            if cmd.script_block.strip() == "$_":
                return data
            return []
        if cmd.positional:
            return [_prop(v, str(cmd.positional[0])) for v in data]
        return data

    async def _out_null(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        return []

    async def _out_string(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        return ["".join(_format(v) for v in data)]

    async def _get_content(self, cmd: _Cmd, data: list[Any]) -> list[Any]:
        path = str(cmd.named.get("path") or (cmd.positional[0] if cmd.positional else ""))
        raise PSError(f"Cannot find path '{path}' because it does not exist.",
                      f"ObjectNotFound: ({path}:String) [Get-Content], ItemNotFoundException",
                      "PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand")

    # --- output -------------------------------------------------------------------------------------------------
    def _emit(self, v: Any) -> None:
        if isinstance(v, list) and v and all(isinstance(x, DnsRecord) for x in v):
            self.out.append(_dns_table(v))
            return
        if isinstance(v, DnsRecord):
            self.out.append(_dns_table([v]))
            return
        self.out.append(_format(v))

    def _print_error(self, e: PSError) -> None:
        text = self.line_text
        cmd_text = e.command or text
        col = text.find(cmd_text.split(" ", 1)[0]) + 1 if cmd_text else 1
        col = max(col, 1)
        alias = getattr(e, "alias", None) or (cmd_text.split(" ", 1)[0] if cmd_text else "")
        underline = "~" * max(len(cmd_text), 1)
        self.err.append(f"{alias} : {e.message}\r\nAt line:1 char:{col}\r\n+ {text}\r\n+ {' ' * (col - 1)}{underline}"
                        f"\r\n    + CategoryInfo          : {e.category}\r\n"
                        f"    + FullyQualifiedErrorId : {e.fqid}\r\n \r\n")


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _NativeFailed(PSError):
    def __init__(self) -> None:
        super().__init__("", "", "")


@dataclass
class _Selected:
    props: dict[str, Any]


_SWITCHES = {"usebasicparsing", "disablekeepalive", "verbose", "quickTimeout".lower(), "dnsonly", "noprofile",
             "passthru", "skipcertificatecheck", "tcponly"}


def _prop(v: Any, name: str) -> Any:
    if isinstance(v, (WebResponse, TncResult)):
        return v.prop(name)
    if isinstance(v, DnsRecord):
        return {"ipaddress": v.ip, "name": v.name, "type": "A", "ip4address": v.ip}.get(name.lower())
    if isinstance(v, _Selected):
        return next((val for k, val in v.props.items() if k.lower() == name.lower()), None)
    if isinstance(v, PSError):
        if name.lower() == "exception":
            return v
        if name.lower() == "message":
            return v.message
        return None
    if isinstance(v, dict):
        return next((val for k, val in v.items() if k.lower() == name.lower()), None)
    if isinstance(v, str) and name.lower() == "length":
        return len(v)
    return None


def _str(v: Any) -> str:
    if v is True:
        return "True"
    if v is False:
        return "False"
    if v is None:
        return ""
    if isinstance(v, PSError):
        return v.message
    return str(v)


def _format(v: Any) -> str:
    if isinstance(v, (WebResponse, TncResult)):
        return v.format()
    if isinstance(v, _Selected):
        names = list(v.props)
        widths = [max(len(n), len(_str(v.props[n]))) for n in names]
        head = " ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip()
        dash = " ".join(("-" * len(n)).ljust(w) for n, w in zip(names, widths)).rstrip()
        vals = " ".join(_str(v.props[n]).rjust(w) if isinstance(v.props[n], int) else _str(v.props[n]).ljust(w)
                        for n, w in zip(names, widths)).rstrip()
        return f"\r\n{head}\r\n{dash}\r\n{vals}\r\n\r\n\r\n"
    if isinstance(v, list):
        return "".join(_format(x) for x in v)
    if v is None:
        return ""
    if isinstance(v, str):
        return v + ("" if v.endswith("\n") else "\r\n")
    return _str(v) + "\r\n"


def _dns_table(recs: list[DnsRecord]) -> str:
    lines = ["", "Name                                           Type   TTL   Section    IPAddress",
             "----                                           ----   ---   -------    ---------"]
    for r in recs:
        lines.append(f"{r.name:<46} A      30    Answer     {r.ip}")
    return "\r\n".join(lines) + "\r\n\r\n\r\n"
