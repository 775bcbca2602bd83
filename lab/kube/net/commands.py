"""The commands an exec runs inside a pod: a dispatcher by program name, the image's tool set, a small POSIX
`sh -c` (pipes, `&&`, `||`, `;`, simple redirections) and the coreutils that pipelines use (grep, head, ...).

Network tools live in `http_tools.py` (curl, wget, nc, ping), `dns_tools.py` (nslookup, dig) and
`powershell.py` (Windows PowerShell's iwr/Invoke-WebRequest, Resolve-DnsName, Test-NetConnection).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from ..controllers import images
from ..controllers.podutil import meta, node_os, pod_ip
from . import dns, posix_shell


@dataclass
class Proc:
    """What a command left behind: its output streams and exit code."""

    stdout: str = ""
    stderr: str = ""
    code: int = 0


class Exec:
    """One exec: the pod and container it runs in, the network it sees, and the clock its waits use."""

    def __init__(self, net: Any, pod: dict, container: str) -> None:
        self.net = net
        self.ctx = net.ctx
        self.pod = pod
        self.container = container
        spec = pod.get("spec") or {}
        c = next((c for c in spec.get("containers") or [] if c.get("name") == container), None) or \
            ((spec.get("containers") or [{}])[0])
        self.image = c.get("image") or ""
        node = self.ctx.node(spec.get("nodeName") or "") or {}
        self.os = "windows" if (images.image_os(self.image) == "windows" or
                                (node and node_os(node) == "windows")) else "linux"

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of emulated time."""
        await self.ctx.clock.sleep(seconds)

    @property
    def hostname(self) -> str:
        return meta(self.pod).get("name", "")

    def files(self) -> dict[str, str]:
        """The few files commands read: resolv.conf, hosts, hostname, the ServiceAccount mount."""
        ns = meta(self.pod).get("namespace", "default")
        ip = pod_ip(self.pod) or ""
        server = self.net.nameserver(self.pod) or ""
        search = " ".join(dns.search_path(self.ctx, self.pod))
        out = {
            "/etc/resolv.conf": f"search {search}\nnameserver {server}\noptions ndots:5\n",
            "/etc/hostname": self.hostname + "\n",
            "/etc/hosts": ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                           "ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
                           f"fe00::2\tip6-allrouters\n{ip}\t{self.hostname}\n"),
            "/var/run/secrets/kubernetes.io/serviceaccount/namespace": ns,
        }
        ca = getattr(getattr(self.ctx.kube, "ca", None), "ca_pem", None)
        if ca:
            out["/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"] = ca if isinstance(ca, str) else ca.decode()
        return out


Command = Callable[[Exec, list[str], str], Awaitable[Proc]]
_COMMANDS: dict[str, Command] = {}

# Tool sets of well-known images; images not listed have the usual Linux tools. BusyBox-based images (busybox,
# alpine) have these applets: sh/ash, cat, echo, printf, grep, head, tail, wc, sort, uniq, tr, cut, expr, hostname,
# sleep, true, false, env, test/[, ls, date, seq, uptime, gzip, uname, basename, dirname, id, whoami, base64,
# wget, nc, nslookup, ping. Anything else: `sh: NAME: not found`, exit 127.
_BASE = {"sh", "bash", "cat", "echo", "grep", "head", "tail", "wc", "hostname", "sleep", "true", "false", "env", "ls",
         "printf", "test", "[", "date", "seq", "uptime", "gzip", "uname", "basename", "dirname", "sort", "uniq", "tr",
         "cut", "expr", "id", "whoami", "base64"}
_BUSYBOX = (_BASE - {"bash"}) | {"ash", "wget", "nc", "nslookup", "ping"}
IMAGE_TOOLS: dict[str, set[str] | None] = {
    "netshoot": None,
    "nginx": _BASE | {"curl", "nginx"},
    "busybox": _BUSYBOX,
    "alpine": _BUSYBOX,
    "coredns": set(),
    "pause": set(),
}
WINDOWS_TOOLS = {"powershell", "powershell.exe", "pwsh", "cmd", "cmd.exe", "nslookup", "nslookup.exe", "curl",
                 "curl.exe", "hostname", "hostname.exe", "ping", "ping.exe", "ipconfig", "whoami"}
NANOSERVER_TOOLS = WINDOWS_TOOLS - {"powershell", "powershell.exe"}


def command(*names: str):
    """Register a command implementation under one or more program names."""
    def deco(fn: Command) -> Command:
        for n in names:
            _COMMANDS[n] = fn
        return fn
    return deco


def _load_tools() -> None:
    """Import the tool modules (each registers its commands with `@command`)."""
    from . import applets, dns_tools, http_tools, powershell
    del applets, dns_tools, http_tools, powershell


def available(ex: Exec, prog: str) -> bool:
    """Is `prog` in the container's image (and emulated here)?"""
    _load_tools()
    base = prog.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if ex.os == "windows":
        tools = NANOSERVER_TOOLS if "nanoserver" in ex.image.lower() else WINDOWS_TOOLS
        return base.lower() in tools
    if base not in _COMMANDS:
        return False
    tools = IMAGE_TOOLS.get(images.short_name(ex.image))
    return tools is None or base in tools


def not_found(ex: Exec, prog: str) -> Proc:
    if ex.os == "windows":
        return Proc("", "OCI runtime exec failed: container encountered an error during hcsshim::System::"
                        "CreateProcess: failure in a Windows system call: The system cannot find the file "
                        "specified. (0x2)\n", 126)
    engine = images.runtime_of(ex.ctx.node((ex.pod.get("spec") or {}).get("nodeName") or "") or {})
    if engine == "docker":
        return Proc("", f'OCI runtime exec failed: exec failed: container_linux.go:380: starting container process '
                        f'caused: exec: "{prog}": executable file not found in $PATH: unknown\n', 126)
    return Proc("", f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{prog}": '
                    f"executable file not found in $PATH: unknown\n", 126)


async def run(net: Any, pod: dict, container: str, argv: list[str], stdin: bytes | None = None) -> Proc:
    """Run `argv` as an exec in `pod`/`container` and return what it printed and its exit code."""
    ex = Exec(net, pod, container)
    if not argv:
        return Proc("", "error: you must specify at least one command for the container\n", 1)
    if not available(ex, argv[0]):
        return not_found(ex, argv[0])
    return await run_argv(ex, argv, (stdin or b"").decode(errors="replace"))


async def run_argv(ex: Exec, argv: list[str], stdin: str = "") -> Proc:
    """Run one program (inside a shell pipeline or directly)."""
    _load_tools()
    prog = argv[0].rsplit("/", 1)[-1]
    if ex.os == "windows":
        prog = prog.rsplit("\\", 1)[-1].lower()
        if prog.endswith(".exe"):
            prog = prog[:-4]
        if prog == "nslookup":
            prog = "nslookup-windows"
    fn = _COMMANDS.get(prog)
    if fn is None:
        if ex.os == "windows":
            return Proc("", f"'{argv[0]}' is not recognized as an internal or external command,\noperable program or "
                            "batch file.\n", 1)
        return Proc("", f"sh: {argv[0]}: not found\n", 127)
    return await fn(ex, argv, stdin)


# --- sh ------------------------------------------------------------------------------------------------------------
SHELLS = ("sh", "bash", "ash")


def _shell(ex: Exec) -> posix_shell.Shell:
    async def program(argv: list[str], stdin: str) -> posix_shell.Out | None:
        if not available(ex, argv[0]):
            return None
        p = await run_argv(ex, argv, stdin)
        return posix_shell.Out(p.stdout, p.stderr, p.code)

    env = {"HOSTNAME": ex.hostname, "HOME": "/root", "PWD": "/",
           "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    return posix_shell.Shell(program, env)


@command(*SHELLS)
async def sh(ex: Exec, argv: list[str], stdin: str) -> Proc:
    """`sh -c SCRIPT`, or `sh` (`sh -s`) running the script it reads on stdin."""
    if len(argv) >= 3 and argv[1] == "-c":
        out = await _shell(ex).run_script(argv[2], posix_shell.Input(stdin))
    elif len(argv) == 1 or argv[1] in ("-s", "-i"):
        out = await _shell(ex).run_script(stdin)
    else:
        return Proc("", f"{argv[0]}: can't open '{argv[1]}': No such file or directory\n", 2)
    return Proc(out.stdout, out.stderr, out.code)


async def run_script(ex: Exec, script: str, stdin: str) -> Proc:
    """Run a POSIX shell script in the pod (see `posix_shell`)."""
    out = await _shell(ex).run_script(script, posix_shell.Input(stdin))
    return Proc(out.stdout, out.stderr, out.code)


async def interactive_shell(ex: Exec, io: Any) -> int:
    """`sh` reading commands from a live stdin (`kubectl exec -i POD -- sh`): each command runs as soon as its
    lines are complete and its output is sent at once; the session ends at `exit` or the end of stdin."""
    shell = _shell(ex)
    pending = ""
    while True:
        line = (await io.readline()).decode(errors="replace")
        pending += line
        if line and posix_shell.incomplete(pending):
            continue
        if pending.strip():
            try:
                tree = posix_shell.parse(pending)
            except posix_shell.ShellSyntaxError as exc:
                await io.write_stderr(f"sh: syntax error: {exc}\n".encode())
                shell.status = 2
                tree = None
            if tree is not None:
                out = await shell.run_tree(tree, posix_shell.Input())
                await io.write_stdout(out.stdout.encode())
                await io.write_stderr(out.stderr.encode())
                if shell.exited:
                    return shell.status
        pending = ""
        if not line:
            return shell.status


async def run_stream(net: Any, pod: dict, container: str, argv: list[str], io: Any) -> int:
    """Run `argv` in the pod with live streams: a shell without a script is interactive; any other program gets
    its whole stdin once the client ends it."""
    ex = Exec(net, pod, container)
    if argv and ex.os == "linux" and argv[0].rsplit("/", 1)[-1] in SHELLS and available(ex, argv[0]) and \
            (len(argv) == 1 or argv[1] in ("-s", "-i")):
        return await interactive_shell(ex, io)
    stdin = await io.read_all()
    p = await run(net, pod, container, argv, stdin)
    await io.write_stdout(p.stdout.encode())
    await io.write_stderr(p.stderr.encode())
    return p.code


# --- coreutils ------------------------------------------------------------------------------------------------------
@command("echo")
async def echo(ex: Exec, argv: list[str], stdin: str) -> Proc:
    args = argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    return Proc(" ".join(args) + ("\n" if newline else ""))


@command("printf")
async def printf(ex: Exec, argv: list[str], stdin: str) -> Proc:
    fmt = argv[1] if len(argv) > 1 else ""
    text = fmt.replace("\\n", "\n").replace("\\t", "\t")
    for a in argv[2:]:
        text = text.replace("%s", a, 1)
    return Proc(text)


@command("true")
async def true_(ex: Exec, argv: list[str], stdin: str) -> Proc:
    return Proc()


@command("false")
async def false_(ex: Exec, argv: list[str], stdin: str) -> Proc:
    return Proc(code=1)


@command("hostname")
async def hostname(ex: Exec, argv: list[str], stdin: str) -> Proc:
    if "-i" in argv[1:]:
        return Proc((pod_ip(ex.pod) or "") + "\n")
    name = ex.hostname.upper() if ex.os == "windows" else ex.hostname
    return Proc(name + ("\r\n" if ex.os == "windows" else "\n"))


@command("sleep")
async def sleep(ex: Exec, argv: list[str], stdin: str) -> Proc:
    arg = argv[1] if len(argv) > 1 else "0"
    try:
        seconds = float(arg.rstrip("s"))
    except ValueError:
        return Proc("", f"sleep: invalid number '{arg}'\n", 1)
    await ex.sleep(min(seconds, 3600))
    return Proc()


@command("cat")
async def cat(ex: Exec, argv: list[str], stdin: str) -> Proc:
    if len(argv) == 1:
        return Proc(stdin)
    files, out, err, code = ex.files(), [], [], 0
    for f in argv[1:]:
        if f in files:
            out.append(files[f])
        else:
            err.append(f"cat: can't open '{f}': No such file or directory\n")
            code = 1
    return Proc("".join(out), "".join(err), code)


@command("env")
async def env(ex: Exec, argv: list[str], stdin: str) -> Proc:
    lines = [f"HOSTNAME={ex.hostname}", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "HOME=/root"]
    return Proc("\n".join(lines) + "\n")


@command("grep")
async def grep(ex: Exec, argv: list[str], stdin: str) -> Proc:
    flags, args = set(), []
    for a in argv[1:]:
        if a.startswith("-") and len(a) > 1 and not args:
            flags.update(a[1:])
        else:
            args.append(a)
    if not args:
        return Proc("", "BusyBox v1.35.0 multi-call binary.\n\nUsage: grep [-HhnlLoqvsrRiwFE] PATTERN [FILE]...\n", 2)
    pattern, files = args[0], args[1:]
    text = stdin if not files else "".join(ex.files().get(f, "") for f in files)
    try:
        rx = re.compile(pattern if "E" in flags or "F" not in flags else re.escape(pattern),
                        re.IGNORECASE if "i" in flags else 0)
    except re.error:
        rx = re.compile(re.escape(pattern), re.IGNORECASE if "i" in flags else 0)
    lines = text.splitlines(keepends=True)
    hits = [ln for ln in lines if bool(rx.search(ln)) != ("v" in flags)]
    code = 0 if hits else 1
    if "q" in flags:
        return Proc("", "", code)
    if "c" in flags:
        return Proc(f"{len(hits)}\n", "", code)
    return Proc("".join(h if h.endswith("\n") else h + "\n" for h in hits), "", code)


def _count_arg(argv: list[str], default: int = 10) -> tuple[int, list[str]]:
    n, rest, i = default, [], 1
    while i < len(argv):
        a = argv[i]
        if a == "-n" and i + 1 < len(argv):
            n = int(argv[i + 1].lstrip("+-") or default)
            i += 2
            continue
        if re.fullmatch(r"-\d+", a):
            n = int(a[1:])
        elif a.startswith("-n") and a[2:].isdigit():
            n = int(a[2:])
        else:
            rest.append(a)
        i += 1
    return n, rest


@command("head")
async def head(ex: Exec, argv: list[str], stdin: str) -> Proc:
    n, _ = _count_arg(argv)
    return Proc("".join(stdin.splitlines(keepends=True)[:n]))


@command("tail")
async def tail(ex: Exec, argv: list[str], stdin: str) -> Proc:
    n, _ = _count_arg(argv)
    lines = stdin.splitlines(keepends=True)
    return Proc("".join(lines[-n:] if n else []))


@command("wc")
async def wc(ex: Exec, argv: list[str], stdin: str) -> Proc:
    if "-l" in argv:
        return Proc(f"{stdin.count(chr(10))}\n")
    if "-c" in argv:
        return Proc(f"{len(stdin.encode())}\n")
    return Proc(f"{stdin.count(chr(10)):>8}{len(stdin.split()):>8}{len(stdin.encode()):>8}\n")


@command("test", "[")
async def test_(ex: Exec, argv: list[str], stdin: str) -> Proc:
    args = [a for a in argv[1:] if a != "]"]
    if len(args) == 3 and args[1] in ("=", "==", "!="):
        eq = args[0] == args[2]
        return Proc(code=0 if eq == (args[1] != "!=") else 1)
    return Proc(code=0 if args and args[-1] else 1)
