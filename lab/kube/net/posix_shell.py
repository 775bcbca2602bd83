"""The `sh` of the emulated Linux images (busybox ash): parse and run POSIX shell scripts inside a pod exec.

Supported: lists (`;`, newlines, `&&`, `||`, `!`), pipelines, `if/elif/else/fi`, `for NAME in WORDS`, `while` and
`until` loops with `break`/`continue`, `{ ...; }` groups and `( ... )` subshells, assignments, `$VAR`, `${VAR}`,
`${VAR:-default}`, `$?`, `$$`, `$#`, `$(command)`, `` `command` ``, `$((arithmetic))`, single/double quotes and
backslashes, field splitting of unquoted expansions, redirections to `/dev/null` and between 1 and 2
(`>`, `>>`, `2>`, `2>&1`, `>&2`, `&>`), `#` comments, and the builtins `echo`, `printf`, `true`, `false`, `:`,
`exit`, `test`/`[`, `read`, `export`, `unset`, `cd`, `pwd`. Every other command is looked up in the image
(`commands.available`); a missing one is `sh: NAME: not found`, exit 127, as busybox prints it. Anything else
(here-documents inside scripts, functions, `case`, background jobs) is a syntax error naming it, never a silent
success.

`Script.incomplete(text)` tells an interactive session whether more lines are needed before a command can run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

RESERVED = {"if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while", "until", "{", "}", "!",
            "case", "esac", "function"}
_OPS = ("&&", "||", ";;", "2>&1", ">&2", "1>&2", "&>", ">>", "2>", "1>", ">", "<", "|", ";", "&", "(", ")", "\n")


class ShellSyntaxError(Exception):
    """A script the shell refuses (busybox: `sh: syntax error: ...`, exit 2)."""


class Incomplete(ShellSyntaxError):
    """The script ends inside a construct: an interactive shell waits for more lines."""


@dataclass
class Tok:
    text: str
    op: bool = False


def tokenize(src: str) -> list[Tok]:
    """Words (raw, quotes kept for expansion) and operators; comments dropped. Raises Incomplete on open quotes."""
    toks: list[Tok] = []
    i, n = 0, len(src)
    word: list[str] = []

    def flush() -> None:
        if word:
            toks.append(Tok("".join(word)))
            word.clear()

    while i < n:
        c = src[i]
        if c in " \t":
            flush()
            i += 1
        elif c == "#" and not word:
            while i < n and src[i] != "\n":
                i += 1
        elif c == "\\":
            if i + 1 < n and src[i + 1] == "\n":
                i += 2
                continue
            if i + 1 >= n:
                raise Incomplete("line continuation")
            word.append(src[i:i + 2])
            i += 2
        elif c == "'":
            j = src.find("'", i + 1)
            if j < 0:
                raise Incomplete("unterminated quoted string")
            word.append(src[i:j + 1])
            i = j + 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            if j >= n:
                raise Incomplete("unterminated quoted string")
            word.append(src[i:j + 1])
            i = j + 1
        elif c == "$" and src.startswith("$(", i):
            depth, j = 0, i + 1
            while j < n:
                if src[j] == "(":
                    depth += 1
                elif src[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                raise Incomplete("unterminated $(")
            word.append(src[i:j + 1])
            i = j + 1
        elif c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise Incomplete("unterminated `")
            word.append(src[i:j + 1])
            i = j + 1
        else:
            op = next((o for o in _OPS if src.startswith(o, i)), None)
            if op in ("2>&1", "2>", "1>&2", "1>") and word:
                op = None  # `a2>` is a word
            if op is None:
                word.append(c)
                i += 1
                continue
            if op == "<" and src.startswith("<<", i):
                raise ShellSyntaxError("here-documents are not supported in scripts")
            flush()
            toks.append(Tok(op, True))
            i += len(op)
    flush()
    return toks


# --- AST -------------------------------------------------------------------------------------------------------
@dataclass
class Simple:
    words: list[str]
    assigns: list[tuple[str, str]]
    redirects: list[tuple[str, str]]


@dataclass
class Pipeline:
    commands: list[Any]
    negate: bool = False


@dataclass
class AndOr:
    parts: list[tuple[str, Pipeline]]  # (connector before it: "" / "&&" / "||", pipeline)


@dataclass
class If:
    branches: list[tuple[list[AndOr], list[AndOr]]]
    otherwise: list[AndOr] | None


@dataclass
class For:
    name: str
    words: list[str] | None
    body: list[AndOr]


@dataclass
class Loop:
    until: bool
    cond: list[AndOr]
    body: list[AndOr]


@dataclass
class Group:
    body: list[AndOr]
    subshell: bool


_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_REDIRS = (">", ">>", "2>", "1>", "<", "&>")


class Parser:
    """Recursive descent over tokens; `parse()` returns the list of and-or lists."""

    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise Incomplete("unexpected end of file")
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and not t.op and t.text in words

    def expect_word(self, word: str) -> None:
        t = self.take()
        if t.op or t.text != word:
            raise ShellSyntaxError(f'unexpected "{t.text}" (expecting "{word}")')

    def skip_newlines(self) -> None:
        while (t := self.peek()) is not None and t.op and t.text in ("\n", ";"):
            self.i += 1

    def parse(self) -> list[AndOr]:
        out = self.list_until(set())
        if self.peek() is not None:
            raise ShellSyntaxError(f'unexpected "{self.peek().text}"')
        return out

    def list_until(self, stops: set[str]) -> list[AndOr]:
        items: list[AndOr] = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if t is None or (not t.op and t.text in stops) or (t.op and t.text == ")" and ")" in stops):
                return items
            items.append(self.and_or())
            t = self.peek()
            if t is not None and t.op and t.text == "&":
                raise ShellSyntaxError("background jobs (&) are not supported")

    def and_or(self) -> AndOr:
        parts = [("", self.pipeline())]
        while (t := self.peek()) is not None and t.op and t.text in ("&&", "||"):
            self.i += 1
            while (n := self.peek()) is not None and n.op and n.text == "\n":
                self.i += 1
            parts.append((t.text, self.pipeline()))
        return AndOr(parts)

    def pipeline(self) -> Pipeline:
        negate = False
        if self.at_word("!"):
            self.i += 1
            negate = True
        cmds = [self.command()]
        while (t := self.peek()) is not None and t.op and t.text == "|":
            self.i += 1
            while (n := self.peek()) is not None and n.op and n.text == "\n":
                self.i += 1
            cmds.append(self.command())
        return Pipeline(cmds, negate)

    def command(self) -> Any:
        t = self.peek()
        if t is None:
            raise Incomplete("unexpected end of file")
        if t.op and t.text == "(":
            self.i += 1
            body = self.list_until({")"})
            t2 = self.take()
            if not (t2.op and t2.text == ")"):
                raise ShellSyntaxError(f'unexpected "{t2.text}"')
            return Group(body, True)
        if not t.op and t.text in ("case", "function", ";;", "esac"):
            raise ShellSyntaxError(f'"{t.text}" is not supported')
        if self.at_word("if"):
            return self.if_()
        if self.at_word("for"):
            return self.for_()
        if self.at_word("while", "until"):
            until = self.take().text == "until"
            cond = self.list_until({"do"})
            self.expect_word("do")
            body = self.list_until({"done"})
            self.expect_word("done")
            return Loop(until, cond, body)
        if self.at_word("{"):
            self.i += 1
            body = self.list_until({"}"})
            self.expect_word("}")
            return Group(body, False)
        if not t.op and t.text in ("then", "elif", "else", "fi", "do", "done", "}", "in"):
            raise ShellSyntaxError(f'unexpected "{t.text}"')
        return self.simple()

    def simple(self) -> Simple:
        words: list[str] = []
        assigns: list[tuple[str, str]] = []
        redirects: list[tuple[str, str]] = []
        while (t := self.peek()) is not None:
            if t.op and t.text in ("2>&1", ">&2", "1>&2"):
                redirects.append((t.text, ""))
                self.i += 1
            elif t.op and t.text in _REDIRS:
                self.i += 1
                target = self.take()
                if target.op:
                    raise ShellSyntaxError(f'unexpected "{target.text}"')
                redirects.append((t.text, target.text))
            elif t.op:
                break
            elif not words and _ASSIGN.match(t.text):
                name, _, value = t.text.partition("=")
                assigns.append((name, value))
                self.i += 1
            else:
                words.append(t.text)
                self.i += 1
        if not words and not assigns and not redirects:
            t = self.peek()
            raise ShellSyntaxError(f'unexpected "{t.text if t else "end of file"}"')
        return Simple(words, assigns, redirects)

    def if_(self) -> If:
        self.expect_word("if")
        branches = []
        cond = self.list_until({"then"})
        self.expect_word("then")
        body = self.list_until({"elif", "else", "fi"})
        branches.append((cond, body))
        otherwise = None
        while True:
            t = self.take()
            if t.text == "elif":
                cond = self.list_until({"then"})
                self.expect_word("then")
                branches.append((cond, self.list_until({"elif", "else", "fi"})))
            elif t.text == "else":
                otherwise = self.list_until({"fi"})
                self.expect_word("fi")
                return If(branches, otherwise)
            elif t.text == "fi":
                return If(branches, otherwise)
            else:
                raise ShellSyntaxError(f'unexpected "{t.text}"')

    def for_(self) -> For:
        self.expect_word("for")
        name = self.take().text
        words: list[str] | None = None
        while (t := self.peek()) is not None and t.op and t.text == "\n":
            self.i += 1
        if self.at_word("in"):
            self.i += 1
            words = []
            while (t := self.peek()) is not None and not t.op:
                words.append(self.take().text)
        self.skip_newlines()
        self.expect_word("do")
        body = self.list_until({"done"})
        self.expect_word("done")
        return For(name, words, body)


def parse(src: str) -> list[AndOr]:
    """The script's and-or lists; ShellSyntaxError (Incomplete when more input could complete it)."""
    return Parser(tokenize(src)).parse()


def incomplete(src: str) -> bool:
    """True when `src` stops inside a construct (an interactive shell then reads another line)."""
    try:
        parse(src)
    except Incomplete:
        return True
    except ShellSyntaxError:
        return False
    return False


# --- execution -------------------------------------------------------------------------------------------------
class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Break(Exception):
    def __init__(self, cont: bool) -> None:
        self.cont = cont


@dataclass
class Out:
    """What a command wrote, and how it ended."""

    stdout: str = ""
    stderr: str = ""
    code: int = 0


class Input:
    """A command's standard input: text read line by line (`read`) or whole."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.pos = 0

    def readline(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        j = self.text.find("\n", self.pos)
        end = len(self.text) if j < 0 else j + 1
        line = self.text[self.pos:end]
        self.pos = end
        return line

    def rest(self) -> str:
        out = self.text[self.pos:]
        self.pos = len(self.text)
        return out


# Runs an external program: (argv, stdin text) → Out. Returns None when the image has no such program.
Program = Callable[[list[str], str], Awaitable["Out | None"]]


@dataclass
class Shell:
    """One shell process: variables, the last exit status, and how it runs programs."""

    program: Program
    env: dict[str, str] = field(default_factory=dict)
    status: int = 0
    pid: int = 1
    exited: bool = False

    async def run_script(self, src: str, stdin: Input | None = None) -> Out:
        """Parse and run `src`; a syntax error is busybox's message with exit 2."""
        try:
            tree = parse(src)
        except ShellSyntaxError as exc:
            return Out("", f"sh: syntax error: {exc}\n", 2)
        return await self.run_tree(tree, stdin or Input())

    async def run_tree(self, tree: list[AndOr], stdin: Input) -> Out:
        out = Out()
        try:
            await self._list(tree, stdin, out)
        except _Exit as e:
            self.status = e.code
            self.exited = True
        except _Break:
            pass
        out.code = self.status
        return out

    async def _list(self, items: list[AndOr], stdin: Input, out: Out) -> None:
        for item in items:
            await self._and_or(item, stdin, out)

    async def _and_or(self, item: AndOr, stdin: Input, out: Out) -> None:
        for connector, pipeline in item.parts:
            if (connector == "&&" and self.status != 0) or (connector == "||" and self.status == 0):
                continue
            await self._pipeline(pipeline, stdin, out)

    async def _pipeline(self, p: Pipeline, stdin: Input, out: Out) -> None:
        data: Input = stdin
        for index, cmd in enumerate(p.commands):
            last = index == len(p.commands) - 1
            stage = out if last else Out()
            await self._command(cmd, data, stage)
            if not last:
                out.stderr += stage.stderr
                data = Input(stage.stdout)
        if p.negate:
            self.status = 0 if self.status else 1

    async def _command(self, cmd: Any, stdin: Input, out: Out) -> None:
        if isinstance(cmd, Simple):
            await self._simple(cmd, stdin, out)
        elif isinstance(cmd, If):
            for cond, body in cmd.branches:
                await self._list(cond, stdin, out)
                if self.status == 0:
                    await self._list(body, stdin, out)
                    return
            if cmd.otherwise is not None:
                await self._list(cmd.otherwise, stdin, out)
            else:
                self.status = 0
        elif isinstance(cmd, For):
            words = await self._expand_all(cmd.words, out) if cmd.words is not None else []
            self.status = 0
            for w in words:
                self.env[cmd.name] = w
                try:
                    await self._list(cmd.body, stdin, out)
                except _Break as b:
                    if not b.cont:
                        break
        elif isinstance(cmd, Loop):
            body_status, rounds = 0, 0
            while True:
                rounds += 1
                if rounds > 100_000:
                    out.stderr += "sh: loop ran 100000 times: stopped by the lab\n"
                    self.status = 1
                    return
                await self._list(cmd.cond, stdin, out)
                if (self.status == 0) == cmd.until:
                    break
                try:
                    await self._list(cmd.body, stdin, out)
                except _Break as b:
                    if not b.cont:
                        body_status = self.status
                        break
                body_status = self.status
            self.status = body_status
        elif isinstance(cmd, Group):
            if cmd.subshell:
                saved = dict(self.env)
                try:
                    await self._list(cmd.body, stdin, out)
                except _Exit as e:
                    self.status = e.code
                finally:
                    self.env = saved
            else:
                await self._list(cmd.body, stdin, out)

    # --- simple commands
    async def _simple(self, cmd: Simple, stdin: Input, out: Out) -> None:
        argv = await self._expand_all(cmd.words, out)
        values = [(name, await self._expand_one(value, out)) for name, value in cmd.assigns]
        if not argv:
            for name, value in values:
                self.env[name] = value
            self.status = 0 if not cmd.words else self.status
            return
        res = await self._run(argv, stdin, dict(values))
        to_out, to_err = res.stdout, res.stderr
        for op, target in cmd.redirects:
            target = await self._expand_one(target, out) if target else ""
            if op in (">", ">>", "1>") and target == "/dev/null":
                to_out = ""
            elif op == "2>" and target == "/dev/null":
                to_err = ""
            elif op == "&>" and target == "/dev/null":
                to_out = to_err = ""
            elif op == "2>&1":
                to_out, to_err = to_out + to_err, ""
            elif op in (">&2", "1>&2"):
                to_out, to_err = "", to_err + to_out
            elif op == "<" and target == "/dev/null":
                pass
            else:
                to_err += f"sh: can't create {target}: Read-only file system\n"
                self.status = 1
                return
        out.stdout += to_out
        out.stderr += to_err
        self.status = res.code

    async def _run(self, argv: list[str], stdin: Input, assigns: dict[str, str]) -> Out:
        name = argv[0]
        builtin = _BUILTINS.get(name)
        if builtin is not None:
            return await builtin(self, argv, stdin)
        text = stdin.rest()
        res = await self.program(argv, text)
        if res is None:
            return Out("", f"sh: {name}: not found\n", 127)
        return res

    # --- expansion
    async def _expand_all(self, words: list[str], out: Out) -> list[str]:
        fields: list[str] = []
        for w in words:
            fields += await self._expand(w, out)
        return fields

    async def _expand_one(self, word: str, out: Out) -> str:
        return " ".join(await self._expand(word, out, split=False))

    async def _expand(self, word: str, out: Out, split: bool = True) -> list[str]:
        """Expand one raw word into fields: quotes removed, parameters and substitutions replaced, unquoted
        expansion results split on whitespace."""
        fields: list[str] = []
        cur: list[str] = []
        have = False  # a quoted empty string still makes a field
        i, n = 0, len(word)

        def add_split(text: str) -> None:
            nonlocal have
            if not split:
                cur.append(text)
                return
            parts = re.split(r"[ \t\n]+", text)
            for k, part in enumerate(parts):
                if k > 0:
                    if cur or have:
                        fields.append("".join(cur))
                    cur.clear()
                    have = False
                cur.append(part)

        while i < n:
            c = word[i]
            if c == "'":
                j = word.index("'", i + 1)
                cur.append(word[i + 1:j])
                have = True
                i = j + 1
            elif c == '"':
                j, buf = i + 1, []
                while word[j] != '"':
                    if word[j] == "\\" and word[j + 1] in '"\\$`':
                        buf.append(word[j + 1])
                        j += 2
                    elif word[j] == "$" or word[j] == "`":
                        text, j = await self._dollar(word, j, out)
                        buf.append(text)
                    else:
                        buf.append(word[j])
                        j += 1
                cur.append("".join(buf))
                have = True
                i = j + 1
            elif c == "\\":
                cur.append(word[i + 1:i + 2])
                have = True
                i += 2
            elif c in "$`":
                text, i = await self._dollar(word, i, out)
                add_split(text)
            else:
                cur.append(c)
                i += 1
        text = "".join(cur)
        if text or have:
            fields.append(text)
        return [f for f in fields] if split else ["".join(fields)]

    async def _dollar(self, word: str, i: int, out: Out) -> tuple[str, int]:
        if word[i] == "`":
            j = word.index("`", i + 1)
            return await self._substitute(word[i + 1:j], out), j + 1
        if word.startswith("$((", i):
            j = word.index("))", i)
            return str(self._arith(word[i + 3:j])), j + 2
        if word.startswith("$(", i):
            depth, j = 0, i + 1
            while True:
                if word[j] == "(":
                    depth += 1
                elif word[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            return await self._substitute(word[i + 2:j], out), j + 1
        if word.startswith("${", i):
            j = word.index("}", i)
            inner = word[i + 2:j]
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-=+])?(.*)", inner)
            if m is None:
                raise ShellSyntaxError(f"bad substitution: ${{{inner}}}")
            name, op, arg = m.group(1), m.group(2), m.group(3)
            value = self.env.get(name)
            if op in (":-", ":=") and not value or op in ("-", "=") and value is None:
                if op.endswith("="):
                    self.env[name] = arg
                return arg, j + 1
            if op in (":+", "+"):
                return (arg if value else ""), j + 1
            return value or "", j + 1
        m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*|[?$#0-9])").match(word, i)
        if m is None:
            return "$", i + 1
        name = m.group(1)
        special = {"?": str(self.status), "$": str(self.pid), "#": "0", "0": "sh"}
        return special.get(name, self.env.get(name, "")), m.end()

    async def _substitute(self, src: str, out: Out) -> str:
        child = Shell(self.program, dict(self.env), self.status, self.pid)
        res = await child.run_script(src)
        out.stderr += res.stderr
        self.status = res.code
        return res.stdout.rstrip("\n")

    def _arith(self, expr: str) -> int:
        def var(m: re.Match) -> str:
            return str(int(self.env.get(m.group(1), "0") or 0))
        text = re.sub(r"\$?([A-Za-z_][A-Za-z0-9_]*)", var, expr)
        if not re.fullmatch(r"[0-9+\-*/%() <>=!&|]*", text):
            raise ShellSyntaxError(f"arithmetic syntax error: {expr}")
        text = text.replace("/", "//").replace("&&", " and ").replace("||", " or ")
        try:
            return int(eval(text, {"__builtins__": {}}, {}))  # noqa: S307 - digits and operators only
        except (SyntaxError, ZeroDivisionError, TypeError):
            raise ShellSyntaxError(f"arithmetic syntax error: {expr}") from None


# --- builtins ----------------------------------------------------------------------------------------------------
async def _echo(sh: Shell, argv: list[str], stdin: Input) -> Out:
    args, newline = argv[1:], True
    while args and args[0] in ("-n", "-e"):
        newline = newline and args[0] != "-n"
        args = args[1:]
    return Out(" ".join(args) + ("\n" if newline else ""))


async def _printf(sh: Shell, argv: list[str], stdin: Input) -> Out:
    if len(argv) < 2:
        return Out("", "printf: usage: printf FORMAT [ARGUMENT...]\n", 1)
    fmt, args = argv[1], argv[2:]
    fmt = fmt.replace("\\n", "\n").replace("\\t", "\t")
    out = []
    while True:
        used = 0

        def conv(m: re.Match) -> str:
            nonlocal used
            if m.group(0) == "%%":
                return "%"
            value = args[used] if used < len(args) else ""
            used += 1
            spec = m.group(0)
            if spec.endswith("d"):
                return (spec[:-1] + "d") % int(value or 0)
            return (spec[:-1] + "s") % value
        out.append(re.sub(r"%%|%-?[0-9]*[sd]", conv, fmt))
        args = args[used:]
        if not args or not used:
            break
    return Out("".join(out))


async def _true(sh: Shell, argv: list[str], stdin: Input) -> Out:
    return Out()


async def _false(sh: Shell, argv: list[str], stdin: Input) -> Out:
    return Out(code=1)


async def _exit(sh: Shell, argv: list[str], stdin: Input) -> Out:
    raise _Exit(int(argv[1]) if len(argv) > 1 and argv[1].lstrip("-").isdigit() else sh.status)


async def _break(sh: Shell, argv: list[str], stdin: Input) -> Out:
    raise _Break(argv[0] == "continue")


async def _read(sh: Shell, argv: list[str], stdin: Input) -> Out:
    names = [a for a in argv[1:] if not a.startswith("-")] or ["REPLY"]
    line = stdin.readline()
    if line is None:
        return Out(code=1)
    parts = line.rstrip("\n").split(None, len(names) - 1)
    for k, name in enumerate(names):
        sh.env[name] = parts[k] if k < len(parts) else ""
    return Out()


async def _export(sh: Shell, argv: list[str], stdin: Input) -> Out:
    for a in argv[1:]:
        if "=" in a:
            name, _, value = a.partition("=")
            sh.env[name] = value
    return Out()


async def _unset(sh: Shell, argv: list[str], stdin: Input) -> Out:
    for a in argv[1:]:
        sh.env.pop(a, None)
    return Out()


async def _cd(sh: Shell, argv: list[str], stdin: Input) -> Out:
    sh.env["PWD"] = argv[1] if len(argv) > 1 else sh.env.get("HOME", "/root")
    return Out()


async def _pwd(sh: Shell, argv: list[str], stdin: Input) -> Out:
    return Out(sh.env.get("PWD", "/") + "\n")


def _test_expr(args: list[str]) -> bool:
    if not args:
        return False
    if args[0] == "!":
        return not _test_expr(args[1:])
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, v = args
        return {"-n": v != "", "-z": v == "", "-e": v.startswith("/"), "-f": False, "-d": v in ("/", "/tmp")}.get(
            op, False)
    a, op, b = args[0], args[1], " ".join(args[2:])
    if op in ("=", "=="):
        return a == b
    if op == "!=":
        return a != b
    nums = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__, "-gt": int.__gt__,
            "-ge": int.__ge__}
    if op in nums:
        return nums[op](int(a), int(b))
    return False


async def _test(sh: Shell, argv: list[str], stdin: Input) -> Out:
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            return Out("", "sh: [: missing ]\n", 2)
        args = args[:-1]
    try:
        return Out(code=0 if _test_expr(args) else 1)
    except ValueError as exc:
        return Out("", f"sh: {exc}\n", 2)


_BUILTINS: dict[str, Callable[[Shell, list[str], Input], Awaitable[Out]]] = {
    "echo": _echo, "printf": _printf, "true": _true, ":": _true, "false": _false, "exit": _exit,
    "break": _break, "continue": _break, "read": _read, "export": _export, "unset": _unset, "cd": _cd,
    "pwd": _pwd, "test": _test, "[": _test,
}
BUILTINS = frozenset(_BUILTINS)
