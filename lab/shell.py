"""The control plane's shell: enough of bash for what an operator (or a flow) runs on `k8s-m` over SSH.

One command line is tokenized the way a POSIX shell does (quotes, backslashes, `~`, `$VAR`), then run as a list of
pipelines joined by `&&`, `||` and `;`, with redirections (`> f`, `>> f`, `< f`, `2> f`, `2>&1`). Stages of a
pipeline run one after the other, each reading the previous stage's output. Commands are async handlers looked up
by name (`lab.coreutils` has the text tools the runbook pipes through); anything else gets bash's own
`command not found` (exit 127).

Files live in a `RootFS`: a real directory standing for `/`, so what SFTP writes the shell can read and vice versa.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Mapping, Protocol

# --- results, stdin, invocation ------------------------------------------------------------------------------


@dataclass
class Result:
    """What a command (or a whole command line) produced."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0

    @classmethod
    def ok(cls, text: str = "") -> "Result":
        return cls(stdout=text.encode())

    @classmethod
    def fail(cls, message: str, code: int = 1, stdout: str = "") -> "Result":
        """A failure whose message goes to stderr (a newline is added)."""
        return cls(stdout=stdout.encode(), stderr=(message + "\n").encode(), exit_code=code)


class Stdin(Protocol):
    """A command's standard input, read only by commands that need it (so `hostname` never waits on it)."""

    async def read(self) -> bytes: ...


class BytesStdin:
    """Standard input that is already known: a previous pipeline stage's output, a file, or nothing."""

    def __init__(self, data: bytes = b"") -> None:
        self._data = data

    async def read(self) -> bytes:
        return self._data


@dataclass
class SessionState:
    """Per command line: whether any command changed cluster state (for the SSH records)."""

    changed: bool = False


@dataclass
class Invocation:
    """One simple command about to run: its words, input, environment and where its files are."""

    argv: list[str]
    stdin: Stdin
    env: dict[str, str]
    fs: "RootFS"
    shell: "Shell"
    session: SessionState


Handler = Callable[[Invocation], Awaitable[Result]]


# --- the file system -----------------------------------------------------------------------------------------


class RootFS:
    """A directory on the lab machine standing for the emulated host's `/`; every path stays inside it."""

    def __init__(self, root: Path, home: str = "/root") -> None:
        self.root = Path(root)
        self.home = home
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)

    def normalize(self, path: str, cwd: str | None = None) -> str:
        """The absolute emulated path for `path` (relative paths are taken from the home directory)."""
        return posixpath.normpath(posixpath.join(cwd or self.home, path))

    def local(self, path: str) -> Path:
        """Where the emulated `path` lives on the lab machine."""
        return self.root / self.normalize(path).lstrip("/")

    def read_bytes(self, path: str) -> bytes:
        """The file's contents. Raises FileNotFoundError or IsADirectoryError like the OS does."""
        if self.normalize(path) == "/dev/null":
            return b""
        local = self.local(path)
        if local.is_dir():
            raise IsADirectoryError(path)
        return local.read_bytes()

    def write_bytes(self, path: str, data: bytes, *, append: bool = False, mode: int = 0o644) -> None:
        """Write (or append to) a file, creating parent directories as an installer would have."""
        if self.normalize(path) == "/dev/null":
            return
        local = self.local(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "ab" if append else "wb") as f:
            f.write(data)
        local.chmod(mode)

    def exists(self, path: str) -> bool:
        return self.local(path).exists()


# --- tokenizer -----------------------------------------------------------------------------------------------


class ShellSyntaxError(Exception):
    """A command line bash would refuse to parse (message as bash words it, after `bash: -c: line 1: `)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "op"
    value: str


_OPS = ("2>&1", "&&", "||", ">>", "2>", "|", ";", ">", "<", "&")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokenize(line: str, env: Mapping[str, str]) -> list[Token]:
    """Split a command line into words and operators as a POSIX shell does.

    Unlike `shlex.split`, a quoted `'|'` stays a word and an unquoted `|` is an operator, which the pipelines
    need. Expansions: `~` / `~/...` at the start of an unquoted word, `$NAME` / `${NAME}` outside single quotes.
    """
    tokens: list[Token] = []
    buf: list[str] = []
    started = False  # a word is being built (even an empty one, as with '')
    plain = True  # the word so far used no quoting (so `2>` is a redirection, not a word "2" and ">")
    i, n = 0, len(line)

    def flush() -> None:
        nonlocal buf, started, plain
        if started:
            tokens.append(Token("word", "".join(buf)))
        buf, started, plain = [], False, True

    def expand(j: int) -> tuple[str, int]:
        """Expand the `$...` at line[j]; return (text, index after it)."""
        if line.startswith("${", j):
            end = line.find("}", j + 2)
            if end < 0:
                raise ShellSyntaxError("unexpected EOF while looking for matching `}'")
            return env.get(line[j + 2:end], ""), end + 1
        m = _NAME.match(line, j + 1)
        if m:
            return env.get(m.group(0), ""), m.end()
        if line.startswith("$?", j):
            return env.get("?", "0"), j + 2
        return "$", j + 1

    while i < n:
        c = line[i]
        if c in " \t\n":
            flush()
            i += 1
        elif c == "#" and not started:
            break
        elif c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unexpected EOF while looking for matching `''")
            buf.append(line[i + 1:end])
            started, plain, i = True, False, end + 1
        elif c == '"':
            i += 1
            started, plain = True, False
            while True:
                if i >= n:
                    raise ShellSyntaxError("unexpected EOF while looking for matching `\"'")
                d = line[i]
                if d == '"':
                    i += 1
                    break
                if d == "\\" and i + 1 < n and line[i + 1] in '$`"\\\n':
                    buf.append(line[i + 1])
                    i += 2
                elif d == "$":
                    text, i = expand(i)
                    buf.append(text)
                else:
                    buf.append(d)
                    i += 1
        elif c == "\\":
            if i + 1 < n:
                buf.append(line[i + 1])
            started, plain, i = True, False, i + 2
        elif c == "$":
            text, i = expand(i)
            buf.append(text)
            started = True
        elif c == "~" and not started and (i + 1 == n or line[i + 1] in "/ \t\n;|&<>"):
            buf.append(env.get("HOME", "/root"))
            started, i = True, i + 1
        elif c in "|&;<>":
            if c == ">" and started and plain and "".join(buf) == "2":
                buf, started = [], False
                if line.startswith(">&1", i):
                    tokens.append(Token("op", "2>&1"))
                    i += 3
                else:
                    tokens.append(Token("op", "2>"))
                    i += 1
                continue
            flush()
            op = next(o for o in _OPS if line.startswith(o, i))
            tokens.append(Token("op", op))
            i += len(op)
        else:
            buf.append(c)
            started, i = True, i + 1
    flush()
    return tokens


# --- parser --------------------------------------------------------------------------------------------------


@dataclass
class SimpleCommand:
    assigns: dict[str, str]
    argv: list[str]
    redirects: list[tuple[str, str]]  # (op, target); target "" for 2>&1


@dataclass
class Pipeline:
    commands: list[SimpleCommand]


_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


def parse(tokens: list[Token]) -> list[tuple[str, Pipeline]]:
    """Command line → [(connector, pipeline)], connector being ";" (always run), "&&" or "||"."""
    out: list[tuple[str, Pipeline]] = []
    connector = ";"
    commands: list[SimpleCommand] = []
    cur = SimpleCommand({}, [], [])
    i = 0

    def unexpected(tok: str) -> ShellSyntaxError:
        return ShellSyntaxError(f"syntax error near unexpected token `{tok}'")

    def end_command(tok: str) -> None:
        nonlocal cur
        if not cur.argv and not cur.assigns and not cur.redirects:
            raise unexpected(tok)
        commands.append(cur)
        cur = SimpleCommand({}, [], [])

    while i < len(tokens):
        t = tokens[i]
        if t.kind == "word":
            m = _ASSIGN.match(t.value)
            if m and not cur.argv:
                cur.assigns[m.group(1)] = m.group(2)
            else:
                cur.argv.append(t.value)
        elif t.value in (">", ">>", "<", "2>"):
            if i + 1 >= len(tokens) or tokens[i + 1].kind != "word":
                raise unexpected(tokens[i + 1].value if i + 1 < len(tokens) else "newline")
            cur.redirects.append((t.value, tokens[i + 1].value))
            i += 1
        elif t.value == "2>&1":
            cur.redirects.append((t.value, ""))
        elif t.value == "|":
            end_command("|")
        elif t.value in ("&&", "||", ";"):
            end_command(t.value)
            out.append((connector, Pipeline(commands)))
            connector, commands = t.value, []
        else:  # "&": background jobs have no meaning for a command whose output we return
            raise ShellSyntaxError("background jobs (`&') are not supported on this lab host")
        i += 1
    if cur.argv or cur.assigns or cur.redirects:
        commands.append(cur)
    elif commands:  # a dangling `|`
        raise ShellSyntaxError("syntax error: unexpected end of file")
    if commands:
        out.append((connector, Pipeline(commands)))
    elif connector in ("&&", "||"):
        raise ShellSyntaxError("syntax error: unexpected end of file")
    return out


# --- the shell -----------------------------------------------------------------------------------------------


class Shell:
    """Runs command lines for one user on one emulated host; `commands` are the programs installed on it."""

    def __init__(self, fs: RootFS, *, hostname: str, user: str = "root",
                 commands: Mapping[str, Handler] | None = None, paths: Mapping[str, str] | None = None) -> None:
        self.fs = fs
        self.hostname = hostname
        self.user = user
        self.env = {"HOME": fs.home, "USER": user, "LOGNAME": user, "SHELL": "/bin/bash", "HOSTNAME": hostname,
                    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        self.commands: dict[str, Handler] = dict(commands or {})
        self.paths = {name: f"/usr/bin/{name}" for name in self.commands}
        self.paths.update(paths or {})

    def which(self, name: str) -> str | None:
        """The path a command would run from, or None when it is not installed."""
        if "/" in name:
            base = posixpath.basename(name)
            return name if self.paths.get(base) == self.fs.normalize(name) else None
        return self.paths.get(name)

    async def run(self, line: str, stdin: Stdin | None = None, session: SessionState | None = None) -> Result:
        """Run one command line as `bash -c LINE` would; stdout/stderr of each part are concatenated."""
        session = session or SessionState()
        stdin = stdin or BytesStdin()
        try:
            program = parse(tokenize(line, self.env))
        except ShellSyntaxError as e:
            return Result.fail(f"bash: -c: line 1: {e}", 2)
        out, err, code = bytearray(), bytearray(), 0
        for connector, pipeline in program:
            if (connector == "&&" and code != 0) or (connector == "||" and code == 0):
                continue
            r = await self._pipeline(pipeline, stdin, session)
            out += r.stdout
            err += r.stderr
            code = r.exit_code
            self.env["?"] = str(code)
        return Result(bytes(out), bytes(err), code)

    async def _pipeline(self, pipeline: Pipeline, stdin: Stdin, session: SessionState) -> Result:
        err = bytearray()
        result = Result()
        for index, cmd in enumerate(pipeline.commands):
            stage_in = stdin if index == 0 else BytesStdin(result.stdout)
            result = await self._simple(cmd, stage_in, session)
            err += result.stderr
        return Result(result.stdout, bytes(err), result.exit_code)

    async def _simple(self, cmd: SimpleCommand, stdin: Stdin, session: SessionState) -> Result:
        # Where fd 1 and fd 2 go, resolved in order as bash does: ("out",) / ("err",) / ("file", path, append).
        fds: dict[int, tuple] = {1: ("out",), 2: ("err",)}
        for op, target in cmd.redirects:
            if op == "<":
                try:
                    stdin = BytesStdin(self.fs.read_bytes(target))
                except (FileNotFoundError, IsADirectoryError) as e:
                    reason = "Is a directory" if isinstance(e, IsADirectoryError) else "No such file or directory"
                    return Result.fail(f"bash: {target}: {reason}")
            elif op in (">", ">>"):
                fds[1] = ("file", target, op == ">>")
                self.fs.write_bytes(target, b"", append=True)
            elif op == "2>":
                fds[2] = ("file", target, False)
                self.fs.write_bytes(target, b"", append=True)
            elif op == "2>&1":
                fds[2] = fds[1]
        if cmd.argv:
            result = await self.call(cmd.argv, stdin, session, {**self.env, **cmd.assigns})
        else:
            self.env.update(cmd.assigns)
            result = Result()
        out, err = bytearray(), bytearray()
        truncated: set[str] = set()
        for fd, data in ((1, result.stdout), (2, result.stderr)):
            dest = fds[fd]
            if dest[0] == "out":
                out += data
            elif dest[0] == "err":
                err += data
            else:
                append = dest[2] or dest[1] in truncated
                self.fs.write_bytes(dest[1], data, append=append)
                truncated.add(dest[1])
        return Result(bytes(out), bytes(err), result.exit_code)

    async def call(self, argv: list[str], stdin: Stdin, session: SessionState,
                   env: dict[str, str] | None = None) -> Result:
        """Run one program by name (as found on PATH, or by its full path)."""
        name = argv[0]
        if "/" in name:
            if self.which(name) is None:
                return Result.fail(f"bash: {name}: No such file or directory", 127)
            name = posixpath.basename(name)
        handler = self.commands.get(name)
        if handler is None:
            return Result.fail(f"bash: {name}: command not found", 127)
        inv = Invocation(list(argv), stdin, dict(env or self.env), self.fs, self, session)
        return await handler(inv)
