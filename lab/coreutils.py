"""The programs every Linux host has, as `lab.shell` handlers: `cat`, `echo`, `sed` (s///), `grep`, `head`, `tail`,
`hostname`, `whoami`, `pwd`, `true`, `false`, `which`, `command -v`, `sudo`.

They read files from the host's RootFS and stdin only when they need it, and fail with GNU coreutils' messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .shell import Handler, Invocation, Result

# --- programs ------------------------------------------------------------------------------------------------


def _read_inputs(inv: Invocation, files: list[str], prog: str) -> tuple[list[bytes], list[str]]:
    datas, errors = [], []
    for f in files:
        try:
            datas.append(inv.fs.read_bytes(f))
        except FileNotFoundError:
            errors.append(f"{prog}: {f}: No such file or directory")
        except IsADirectoryError:
            errors.append(f"{prog}: {f}: Is a directory")
    return datas, errors


async def _cat(inv: Invocation) -> Result:
    files = [a for a in inv.argv[1:] if a != "-" and not (a.startswith("-") and len(a) > 1)]
    if not files:
        return Result(await inv.stdin.read())
    datas, errors = _read_inputs(inv, files, "cat")
    return Result(b"".join(datas), "".join(e + "\n" for e in errors).encode(), 1 if errors else 0)


async def _echo(inv: Invocation) -> Result:
    args, newline = inv.argv[1:], True
    if args and args[0] == "-n":
        args, newline = args[1:], False
    return Result.ok(" ".join(args) + ("\n" if newline else ""))


async def _hostname(inv: Invocation) -> Result:
    return Result.ok(inv.shell.hostname + "\n")


async def _whoami(inv: Invocation) -> Result:
    return Result.ok(inv.shell.user + "\n")


async def _pwd(inv: Invocation) -> Result:
    return Result.ok(inv.fs.home + "\n")


async def _true(inv: Invocation) -> Result:
    return Result()


async def _false(inv: Invocation) -> Result:
    return Result(exit_code=1)


async def _which(inv: Invocation) -> Result:
    found = [p for p in (inv.shell.which(a) for a in inv.argv[1:]) if p]
    code = 0 if len(found) == len(inv.argv[1:]) and found else 1
    return Result("".join(p + "\n" for p in found).encode(), exit_code=code)


async def _command(inv: Invocation) -> Result:
    args = inv.argv[1:]
    if args and args[0] in ("-v", "-V"):
        return await _which(Invocation(["which", *args[1:]], inv.stdin, inv.env, inv.fs, inv.shell, inv.session))
    if not args:
        return Result()
    return await inv.shell.call(args, inv.stdin, inv.session, inv.env)


async def _sudo(inv: Invocation) -> Result:
    args = inv.argv[1:]
    while args and args[0].startswith("-"):
        args = args[1:]
    if not args:
        return Result.fail("usage: sudo command", 1)
    return await inv.shell.call(args, inv.stdin, inv.session, inv.env)


# sed and grep: POSIX basic regular expressions translated to Python's.


def bre_to_python(pattern: str) -> str:
    """Translate a POSIX basic regular expression (sed/grep default) into Python `re` syntax."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            d = pattern[i + 1]
            out.append(d if d in "(){}|+?" else "\\" + d)
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


@dataclass
class _Subst:
    regex: re.Pattern
    replacement: str
    count: int  # 0 = every match (flag g)


def _split_sed_script(script: str, expr_no: int) -> list[_Subst]:
    """Parse `s/re/repl/flags` commands separated by `;` or newlines."""
    subs, i, n = [], 0, len(script)

    def error(msg: str) -> ValueError:
        return ValueError(f"sed: -e expression #{expr_no}, char {min(i + 1, n) or 1}: {msg}")

    while i < n:
        while i < n and script[i] in " \t\n;":
            i += 1
        if i >= n:
            break
        if script[i] != "s":
            raise error(f"unknown command: `{script[i]}'")
        if i + 1 >= n:
            raise error("unterminated `s' command")
        delim = script[i + 1]
        parts, cur, i = [], [], i + 2
        while len(parts) < 2:
            if i >= n:
                raise error("unterminated `s' command")
            ch = script[i]
            if ch == "\\" and i + 1 < n:
                nxt = script[i + 1]
                cur.append(nxt if nxt == delim else "\\" + nxt)
                i += 2
                continue
            if ch == delim:
                parts.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
            i += 1
        flags = ""
        while i < n and script[i] not in ";\n":
            flags += script[i]
            i += 1
        flags = flags.strip()
        if any(f not in "gIi" for f in flags):
            raise error("unknown option to `s'")
        re_flags = re.I if ("I" in flags or "i" in flags) else 0
        try:
            regex = re.compile(bre_to_python(parts[0]), re_flags)
        except re.error as e:
            raise error(f"invalid regular expression: {e}") from None
        subs.append(_Subst(regex, parts[1], 0 if "g" in flags else 1))
    return subs


def _expand_replacement(repl: str, m: re.Match) -> str:
    out, i = [], 0
    while i < len(repl):
        c = repl[i]
        if c == "\\" and i + 1 < len(repl):
            d = repl[i + 1]
            if d.isdigit():
                out.append(m.group(int(d)) or "")
            elif d == "n":
                out.append("\n")
            elif d == "t":
                out.append("\t")
            else:
                out.append(d)
            i += 2
            continue
        out.append(m.group(0) if c == "&" else c)
        i += 1
    return "".join(out)


async def _sed(inv: Invocation) -> Result:
    args = inv.argv[1:]
    scripts, files, in_place = [], [], False
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-e", "--expression"):
            if i + 1 >= len(args):
                return Result.fail("sed: option requires an argument -- 'e'")
            scripts.append(args[i + 1])
            i += 2
            continue
        if a.startswith("--expression="):
            scripts.append(a.split("=", 1)[1])
        elif a in ("-i", "--in-place"):
            in_place = True
        elif a in ("-E", "-r", "--regexp-extended"):
            pass  # Python's syntax is already extended; the translation below only applies to BREs
        elif a.startswith("-") and a != "-":
            return Result.fail(f"sed: invalid option -- '{a.lstrip('-')[:1]}'")
        else:
            files.append(a)
        i += 1
    if not scripts:
        if not files:
            return Result.fail("Usage: sed [OPTION]... {script-only-if-no-other-script} [input-file]...", 1)
        scripts.append(files.pop(0))
    try:
        subs = [s for n, text in enumerate(scripts, 1) for s in _split_sed_script(text, n)]
    except ValueError as e:
        return Result.fail(str(e))

    def edit(data: bytes) -> bytes:
        lines = data.decode("utf-8", "surrogateescape").splitlines(keepends=True)
        out = []
        for line in lines:
            body = line.rstrip("\n")
            end = line[len(body):]
            for s in subs:
                body = s.regex.sub(lambda m, s=s: _expand_replacement(s.replacement, m), body, count=s.count)
            out.append(body + end)
        return "".join(out).encode("utf-8", "surrogateescape")

    if not files:
        return Result(edit(await inv.stdin.read()))
    datas, errors = _read_inputs(inv, files, "sed")
    err = "".join(f"sed: can't read {e.split(': ', 2)[1]}: No such file or directory\n" for e in errors)
    if in_place:
        for f, data in zip([f for f in files if inv.fs.exists(f)], datas):
            inv.fs.write_bytes(f, edit(data))
        return Result(b"", err.encode(), 2 if errors else 0)
    return Result(b"".join(edit(d) for d in datas), err.encode(), 2 if errors else 0)


async def _grep(inv: Invocation) -> Result:
    args = inv.argv[1:]
    ignore = invert = quiet = extended = fixed = False
    rest = []
    for a in args:
        if a.startswith("-") and len(a) > 1 and not rest:
            for f in a[1:]:
                if f not in "ivqEFs":
                    return Result.fail(f"grep: invalid option -- '{f}'", 2)
                ignore |= f == "i"
                invert |= f == "v"
                quiet |= f == "q"
                extended |= f == "E"
                fixed |= f == "F"
        else:
            rest.append(a)
    if not rest:
        return Result.fail("Usage: grep [OPTION]... PATTERNS [FILE]...", 2)
    pattern, files = rest[0], rest[1:]
    expr = re.escape(pattern) if fixed else (pattern if extended else bre_to_python(pattern))
    try:
        regex = re.compile(expr, re.I if ignore else 0)
    except re.error:
        return Result.fail("grep: Invalid regular expression", 2)
    if files:
        datas, errors = _read_inputs(inv, files, "grep")
    else:
        datas, errors = [await inv.stdin.read()], []
    selected = [line for d in datas for line in d.decode("utf-8", "replace").splitlines(keepends=True)
                if bool(regex.search(line.rstrip("\n"))) != invert]
    err = "".join(e + "\n" for e in errors).encode()
    code = 2 if errors and not selected else (0 if selected else 1)
    if quiet:
        return Result(b"", err, 0 if selected else code)
    text = "".join(s if s.endswith("\n") else s + "\n" for s in selected)
    return Result(text.encode(), err, code)


async def _head_tail(inv: Invocation) -> Result:
    prog, args, count, files = inv.argv[0], inv.argv[1:], 10, []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-n" and i + 1 < len(args):
            a, i = "-n" + args[i + 1], i + 1
        if a.startswith("-n") or (a[:1] == "-" and a[1:].isdigit()):
            try:
                count = int(a[2:] if a.startswith("-n") else a[1:])
            except ValueError:
                return Result.fail(f"{prog}: invalid number of lines: '{a[2:]}'")
        else:
            files.append(a)
        i += 1
    if files:
        datas, errors = _read_inputs(inv, files, prog)
    else:
        datas, errors = [await inv.stdin.read()], []
    out = []
    for d in datas:
        lines = d.splitlines(keepends=True)
        out += lines[:count] if prog == "head" else lines[max(len(lines) - count, 0):]
    return Result(b"".join(out), "".join(e + "\n" for e in errors).encode(), 1 if errors else 0)


COREUTILS: dict[str, Handler] = {
    "cat": _cat, "echo": _echo, "hostname": _hostname, "whoami": _whoami, "pwd": _pwd, "true": _true,
    "false": _false, "which": _which, "command": _command, "sudo": _sudo, "sed": _sed, "grep": _grep,
    "head": _head_tail, "tail": _head_tail,
}
