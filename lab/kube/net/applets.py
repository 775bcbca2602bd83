"""BusyBox applets (and their coreutils namesakes) the emulated Linux images have beyond the basics in `commands`:
ls, date, seq, uptime, gzip, uname, basename, dirname, sort, uniq, tr, cut, expr, id, whoami. Each registers itself
with `commands.command`; which images have them is `commands.IMAGE_TOOLS`."""

from __future__ import annotations

import base64
import gzip as gzip_lib
import re
import time

from .commands import Exec, Proc, command

_DIRS = {"/": ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var"],
         "/etc": ["hostname", "hosts", "resolv.conf"], "/tmp": [], "/root": [],
         "/var/run/secrets/kubernetes.io/serviceaccount": ["ca.crt", "namespace", "token"]}


@command("ls")
async def ls(ex: Exec, argv: list[str], stdin: str) -> Proc:
    paths = [a for a in argv[1:] if not a.startswith("-")] or ["/"]
    files = ex.files()
    out, err, code = [], [], 0
    for path in paths:
        path = path.rstrip("/") or "/"
        if path in _DIRS:
            entries = _DIRS[path]
            out.append("".join(e + "\n" for e in entries) if len(paths) == 1 else f"{path}:\n" +
                       "".join(e + "\n" for e in entries))
        elif path in files:
            out.append(path + "\n")
        else:
            err.append(f"ls: {path}: No such file or directory\n")
            code = 1
    return Proc("".join(out), "".join(err), code)


@command("date")
async def date(ex: Exec, argv: list[str], stdin: str) -> Proc:
    now = time.gmtime()
    fmt = next((a[1:] for a in argv[1:] if a.startswith("+")), None)
    if fmt is not None:
        return Proc(time.strftime(fmt.replace("%N", "000000000"), now) + "\n")
    return Proc(time.strftime("%a %b %e %H:%M:%S UTC %Y", now) + "\n")


@command("seq")
async def seq(ex: Exec, argv: list[str], stdin: str) -> Proc:
    try:
        nums = [int(a) for a in argv[1:]]
    except ValueError:
        bad = next(a for a in argv[1:] if not re.fullmatch(r"-?\d+", a))
        return Proc("", f"seq: invalid number '{bad}'\n", 1)
    if not 1 <= len(nums) <= 3:
        return Proc("", "BusyBox v1.35.0 multi-call binary.\n\nUsage: seq [-w] [-s SEP] [FIRST [INC]] LAST\n", 1)
    first, inc, last = (1, 1, nums[0]) if len(nums) == 1 else (nums[0], 1, nums[1]) if len(nums) == 2 else nums
    if inc == 0:
        return Proc("", "seq: invalid increment '0'\n", 1)
    return Proc("".join(f"{n}\n" for n in range(first, last + (1 if inc > 0 else -1), inc)))


@command("uptime")
async def uptime(ex: Exec, argv: list[str], stdin: str) -> Proc:
    return Proc(time.strftime(" %H:%M:%S", time.gmtime()) + " up 3 days,  2:14,  0 users,  load average: 0.21, "
                                                            "0.18, 0.12\n")


@command("gzip")
async def gzip(ex: Exec, argv: list[str], stdin: str) -> Proc:
    """gzip to stdout (`-c`, or a pipe); the compressed bytes travel as latin-1 text through the pipeline."""
    if "-d" in argv:
        try:
            return Proc(gzip_lib.decompress(stdin.encode("latin-1")).decode(errors="replace"))
        except OSError:
            return Proc("", "gzip: invalid magic\n", 1)
    return Proc(gzip_lib.compress(stdin.encode(), mtime=0).decode("latin-1"))


@command("uname")
async def uname(ex: Exec, argv: list[str], stdin: str) -> Proc:
    if "-a" in argv:
        return Proc(f"Linux {ex.hostname} 5.4.0-100-generic #113-Ubuntu SMP x86_64 GNU/Linux\n")
    if "-r" in argv:
        return Proc("5.4.0-100-generic\n")
    if "-m" in argv:
        return Proc("x86_64\n")
    return Proc("Linux\n")


@command("basename")
async def basename(ex: Exec, argv: list[str], stdin: str) -> Proc:
    if len(argv) < 2:
        return Proc("", "basename: missing operand\n", 1)
    name = argv[1].rstrip("/").rsplit("/", 1)[-1] or "/"
    if len(argv) > 2 and name.endswith(argv[2]) and name != argv[2]:
        name = name[: -len(argv[2])]
    return Proc(name + "\n")


@command("dirname")
async def dirname(ex: Exec, argv: list[str], stdin: str) -> Proc:
    if len(argv) < 2:
        return Proc("", "dirname: missing operand\n", 1)
    head = argv[1].rstrip("/").rsplit("/", 1)
    return Proc(((head[0] or "/") if len(head) == 2 else ".") + "\n")


@command("sort")
async def sort(ex: Exec, argv: list[str], stdin: str) -> Proc:
    lines = stdin.splitlines()
    numeric = any(a.startswith("-") and "n" in a for a in argv[1:])
    key = (lambda s: float(re.match(r"\s*(-?\d+(\.\d+)?)", s).group(1)) if re.match(r"\s*-?\d", s) else 0.0) \
        if numeric else None
    lines.sort(key=key, reverse=any(a.startswith("-") and "r" in a for a in argv[1:]))
    if any(a.startswith("-") and "u" in a for a in argv[1:]):
        lines = list(dict.fromkeys(lines))
    return Proc("".join(line + "\n" for line in lines))


@command("uniq")
async def uniq(ex: Exec, argv: list[str], stdin: str) -> Proc:
    out: list[str] = []
    for line in stdin.splitlines():
        if not out or out[-1] != line:
            out.append(line)
    return Proc("".join(line + "\n" for line in out))


@command("tr")
async def tr(ex: Exec, argv: list[str], stdin: str) -> Proc:
    args = [a for a in argv[1:] if not a.startswith("-")]
    delete = "-d" in argv[1:]

    def expand(spec: str) -> str:
        spec = spec.replace("[:lower:]", "a-z").replace("[:upper:]", "A-Z").replace("[:digit:]", "0-9")
        return re.sub(r"(.)-(.)", lambda m: "".join(chr(c) for c in range(ord(m.group(1)), ord(m.group(2)) + 1)),
                      spec)
    if delete and args:
        drop = set(expand(args[0]))
        return Proc("".join(c for c in stdin if c not in drop))
    if len(args) < 2:
        return Proc("", "tr: missing operand\n", 1)
    src, dst = expand(args[0]), expand(args[1])
    table = {ord(c): dst[min(i, len(dst) - 1)] for i, c in enumerate(src)}
    return Proc(stdin.translate(table))


@command("cut")
async def cut(ex: Exec, argv: list[str], stdin: str) -> Proc:
    delim, fields = "\t", None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("-d"):
            delim = a[2:] or argv[i + 1]
            i += 1 if a[2:] else 2
            continue
        if a.startswith("-f"):
            spec = a[2:] or argv[i + 1]
            fields = [int(x) for x in spec.split(",")]
            i += 1 if a[2:] else 2
            continue
        i += 1
    if fields is None:
        return Proc("", "cut: expected a list of bytes, characters, or fields\n", 1)
    out = []
    for line in stdin.splitlines():
        parts = line.split(delim)
        out.append(delim.join(parts[f - 1] for f in fields if f - 1 < len(parts)) if delim in line else line)
    return Proc("".join(line + "\n" for line in out))


@command("expr")
async def expr(ex: Exec, argv: list[str], stdin: str) -> Proc:
    args = argv[1:]
    if len(args) == 3 and args[1] in ("+", "-", "*", "/", "%"):
        try:
            a, b = int(args[0]), int(args[2])
        except ValueError:
            return Proc("", "expr: non-numeric argument\n", 2)
        if args[1] in "/%" and b == 0:
            return Proc("", "expr: division by zero\n", 2)
        value = {"+": a + b, "-": a - b, "*": a * b, "/": int(a / b) if b else 0, "%": a % b if b else 0}[args[1]]
        return Proc(f"{value}\n", "", 0 if value else 1)
    if len(args) == 1:
        return Proc(args[0] + "\n", "", 0 if args[0] not in ("", "0") else 1)
    return Proc("", "expr: syntax error\n", 2)


@command("id")
async def id_(ex: Exec, argv: list[str], stdin: str) -> Proc:
    return Proc("uid=0(root) gid=0(root) groups=0(root),10(wheel)\n")


@command("whoami")
async def whoami(ex: Exec, argv: list[str], stdin: str) -> Proc:
    return Proc("root\n")


@command("base64")
async def base64_(ex: Exec, argv: list[str], stdin: str) -> Proc:
    if "-d" in argv:
        return Proc(base64.b64decode(stdin.encode()).decode(errors="replace"))
    return Proc(base64.encodebytes(stdin.encode()).decode())
