"""The command table of the emulated Windows host: which Python handler runs for a cmdlet, or for a script or
executable file on the host's disk; and how PowerShell binds the parameters it was sent.

Registering (the extension point other lab parts use):

```python
from lab.windows import handlers

@handlers.register("Get-Foo", parameters=("Name", "Force"), positional=("Name",))
async def get_foo(inv: handlers.Invocation) -> None:
    inv.output({"Name": inv.get("Name")})

# a script file invoked by path (`c:\\install-calico-windows.ps1 -KubeVersion 1.22.6`): by path pattern ...
handlers.register("*\\install-kube-services.ps1", fn, parameters=("service",))
# ... or by what the file on the host's disk contains (`lab-script: <kind>` marker, or a matcher)
handlers.register_script_kind("calico-installer", fn, parameters=("KubeVersion", ...))
```

A handler receives an `Invocation` (host model, bound parameters, pipeline input, streams) and writes output
with `inv.output(...)`, non-terminating errors with `inv.error(...)` (honouring -ErrorAction), and ends the
pipeline with `inv.fail(...)` (a terminating error). Handlers may be sync or async.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from lab.windows.dispatch import ErrorRecord, PipelineCommand, PipelineFailed, PSObj, Streams

if TYPE_CHECKING:
    from lab.windows.host import WindowsHost

Handler = Callable[["Invocation"], "Awaitable[None] | None"]

COMMON_PARAMETERS = ("Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable",
                     "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable")
COMMON_ALIASES = {"vb": "Verbose", "db": "Debug", "ea": "ErrorAction", "wa": "WarningAction",
                  "infa": "InformationAction", "ev": "ErrorVariable", "wv": "WarningVariable",
                  "iv": "InformationVariable", "ov": "OutVariable", "ob": "OutBuffer", "pv": "PipelineVariable"}
SHOULD_PROCESS_PARAMETERS = ("WhatIf", "Confirm")
SHOULD_PROCESS_ALIASES = {"wi": "WhatIf", "cf": "Confirm"}
_MARKER_RE = re.compile(r"lab-script: ([\w.-]+)")


@dataclass
class CommandSpec:
    """How one command is bound and run."""

    name: str                                   # as PowerShell shows it ("Get-Service", "install-calico-windows.ps1")
    handler: Handler
    parameters: tuple[str, ...] = ()            # declared parameter names (common parameters are implied)
    positional: tuple[str, ...] = ()            # parameters bound from positional arguments, in order
    aliases: dict[str, str] = field(default_factory=dict)   # parameter alias → parameter
    mandatory: tuple[str, ...] = ()
    should_process: bool = False                # accepts -WhatIf / -Confirm
    cmdlet_type: str = ""                       # .NET type for FullyQualifiedErrorIds
    kind: str = "cmdlet"                        # cmdlet | script-file | native
    common_parameters: bool = True              # False for scripts without [CmdletBinding()]

    def all_parameters(self) -> dict[str, str]:
        """lowercase name/alias → canonical parameter name."""
        names: dict[str, str] = {p.lower(): p for p in self.parameters}
        if self.common_parameters:
            names.update({p.lower(): p for p in COMMON_PARAMETERS})
            names.update(COMMON_ALIASES)
        if self.should_process:
            names.update({p.lower(): p for p in SHOULD_PROCESS_PARAMETERS})
            names.update(SHOULD_PROCESS_ALIASES)
        names.update({a.lower(): p for a, p in self.aliases.items()})
        return names

    def fqid(self, error_id: str) -> str:
        """`ErrorId,Cmdlet.Type` as PowerShell builds FullyQualifiedErrorIds."""
        return f"{error_id},{self.cmdlet_type}" if self.cmdlet_type else error_id


def _default_cmdlet_type(name: str) -> str:
    verb, _, noun = name.partition("-")
    if not noun:
        return ""
    return f"Microsoft.PowerShell.Commands.{verb}{noun.replace('-', '')}Command"


class HandlerTable:
    """Every command the host knows: cmdlets (and their aliases) by name, script files by path pattern or by
    content kind."""

    def __init__(self) -> None:
        self.cmdlets: dict[str, CommandSpec] = {}
        self.path_patterns: list[tuple[str, CommandSpec]] = []
        self.script_kinds: dict[str, CommandSpec] = {}
        self.kind_matchers: list[tuple[str, Callable[[str], bool]]] = []

    # ---- registration ----------------------------------------------------------------------------------------
    def register(self, name_or_path_pattern: str, handler: Handler | None = None, *,
                 parameters: tuple[str, ...] | list[str] = (), positional: tuple[str, ...] | list[str] = (),
                 aliases: dict[str, str] | None = None, mandatory: tuple[str, ...] | list[str] = (),
                 should_process: bool = False, cmdlet_type: str | None = None,
                 command_aliases: tuple[str, ...] | list[str] = (), common_parameters: bool = True,
                 native: bool = False) -> Any:
        """Register a cmdlet (`"Get-Service"`, with `command_aliases` like `("gsv",)`) or a script/executable
        file invoked by path (`"*\\\\install-kube-services.ps1"`, `"C:\\\\k\\\\kubectl.exe"`; a pattern is
        recognised by a `\\`, `/`, `*` or a `.ps1`/`.exe` ending and matched case-insensitively against the full
        path the command names). Usable as a decorator when `handler` is omitted. A later registration of the
        same name replaces the earlier one. `native=True` registers an executable: PowerShell hands it its arguments
        as text, unbound (the handler reads `inv.get("Arguments")`). Returns the handler."""
        def do(fn: Handler) -> Handler:
            is_path = _is_path_like(name_or_path_pattern)
            display = name_or_path_pattern.replace("/", "\\").rsplit("\\", 1)[-1] if is_path else name_or_path_pattern
            spec = CommandSpec(
                name=display, handler=fn, parameters=tuple(parameters), positional=tuple(positional),
                aliases=dict(aliases or {}), mandatory=tuple(mandatory), should_process=should_process,
                cmdlet_type=(cmdlet_type if cmdlet_type is not None
                             else ("" if is_path else _default_cmdlet_type(name_or_path_pattern))),
                kind="native" if native else ("script-file" if is_path else "cmdlet"),
                common_parameters=common_parameters and not native)
            if is_path:
                pat = name_or_path_pattern.replace("/", "\\").lower()
                if "\\" not in pat:
                    pat = "*\\" + pat
                self.path_patterns = [(p, s) for p, s in self.path_patterns if p != pat] + [(pat, spec)]
            else:
                self.cmdlets[name_or_path_pattern.lower()] = spec
                for a in command_aliases:
                    self.cmdlets[a.lower()] = spec
            return fn

        return do(handler) if handler is not None else do

    def register_script_kind(self, kind: str, handler: Handler | None = None, *,
                             matcher: Callable[[str], bool] | None = None,
                             parameters: tuple[str, ...] | list[str] = (), aliases: dict[str, str] | None = None,
                             common_parameters: bool = True, name: str | None = None) -> Any:
        """Register the behaviour of script files of one content kind. A `.ps1` invoked by path whose text holds
        the marker `lab-script: <kind>` (or satisfies `matcher(text)`) runs `handler`. `parameters` are the
        script's own param() names. Usable as a decorator."""
        def do(fn: Handler) -> Handler:
            self.script_kinds[kind] = CommandSpec(name=name or kind, handler=fn, parameters=tuple(parameters),
                                                  aliases=dict(aliases or {}), kind="script-file",
                                                  common_parameters=common_parameters)
            if matcher is not None:
                self.kind_matchers = [(k, m) for k, m in self.kind_matchers if k != kind] + [(kind, matcher)]
            return fn

        return do(handler) if handler is not None else do

    # ---- lookup ----------------------------------------------------------------------------------------------
    def cmdlet(self, name: str) -> CommandSpec | None:
        """The spec for a cmdlet name or alias (case-insensitive), or None."""
        return self.cmdlets.get(name.lower())

    def path_command(self, path: str) -> CommandSpec | None:
        """The spec registered for a file path by pattern (latest registration wins), or None."""
        p = path.lower()
        for pat, spec in reversed(self.path_patterns):
            if fnmatch.fnmatchcase(p, pat):
                return spec
        return None

    def script_kind_of(self, text: str) -> str | None:
        """The registered content kind of a script's text, or None."""
        for kind, matcher in reversed(self.kind_matchers):
            if matcher(text):
                return kind
        for m in _MARKER_RE.finditer(text[:8192]):
            if m.group(1) in self.script_kinds:
                return m.group(1)
        return None


def _is_path_like(name: str) -> bool:
    n = name.lower()
    return "\\" in n or "/" in n or "*" in n or n.endswith((".ps1", ".exe", ".cmd", ".bat"))


# ---------------------------------------------------------------------------------------------------------------
# Invocation
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class HostContext:
    """What handlers need beyond the host model: set up by the node (or a test)."""

    cwd: str = "C:\\Users\\Administrator\\Documents"
    catalog: Any = None          # lab.windows.installers.catalog.Catalog, when present
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Invocation:
    """One command being run: the host, the bound parameters and where to write results."""

    host: "WindowsHost"
    spec: CommandSpec
    command: PipelineCommand
    params: dict[str, Any]          # canonical parameter name → value
    input: list[Any]
    streams: Streams
    context: HostContext
    script_path: str | None = None  # for a script file invoked by path: its normalized path
    script_text: str | None = None

    # ---- parameters
    def has(self, name: str) -> bool:
        """True if the parameter was bound."""
        return name in self.params

    def get(self, name: str, default: Any = None) -> Any:
        """A bound parameter's value, or `default`."""
        return self.params.get(name, default)

    def switch(self, name: str) -> bool:
        """A switch parameter's value (`-Force`, `-Force:$false`)."""
        v = self.params.get(name, False)
        return bool(v) if not isinstance(v, str) else v.lower() not in ("false", "0", "")

    def str_list(self, name: str) -> list[str]:
        """A string[] parameter as a list (a single value becomes a one-item list)."""
        v = self.params.get(name)
        if v is None:
            return []
        if isinstance(v, (list, tuple)):
            return [str(x) for x in v]
        return [str(v)]

    @property
    def error_action(self) -> str:
        """The -ErrorAction preference (Continue unless given)."""
        v = self.params.get("ErrorAction", "Continue")
        if isinstance(v, int):  # ActionPreference enum value
            return {0: "SilentlyContinue", 1: "Stop", 2: "Continue", 3: "Inquire", 4: "Ignore",
                    5: "Suspend"}.get(v, "Continue")
        return str(getattr(v, "to_string", None) or v)

    @property
    def what_if(self) -> bool:
        """True under -WhatIf: mutating handlers describe instead of act."""
        return self.switch("WhatIf")

    # ---- streams
    def output(self, obj: Any) -> None:
        """Write one output object."""
        self.streams.output(obj)

    def warning(self, text: str) -> None:
        """Write to the warning stream (unless -WarningAction SilentlyContinue)."""
        if str(self.params.get("WarningAction", "Continue")).lower() not in ("silentlycontinue", "ignore", "0", "4"):
            self.streams.warning(text)

    def verbose(self, text: str) -> None:
        """Write to the verbose stream when -Verbose was given (VerbosePreference is SilentlyContinue remotely)."""
        if self.switch("Verbose"):
            self.streams.verbose(text)

    def information(self, text: str) -> None:
        """Write-Host."""
        self.streams.information(text)

    def record(self, message: str, error_id: str, category: str = "NotSpecified", *,
               exception_type: str = "System.Exception", target: Any = None) -> ErrorRecord:
        """An ErrorRecord whose FQID is `error_id,<cmdlet type>`."""
        return ErrorRecord(message=message, category=category, fqid=self.spec.fqid(error_id),
                           exception_type=exception_type, target=target)

    def error(self, message: str, error_id: str, category: str = "NotSpecified", *,
              exception_type: str = "System.Exception", target: Any = None) -> None:
        """A non-terminating error, honouring -ErrorAction (Stop → terminating; SilentlyContinue/Ignore →
        dropped)."""
        self.write_error(self.record(message, error_id, category, exception_type=exception_type, target=target))

    def write_error(self, rec: ErrorRecord) -> None:
        """Write a prepared ErrorRecord, honouring -ErrorAction."""
        action = self.error_action.lower()
        if action == "stop":
            raise PipelineFailed(rec)
        if action in ("silentlycontinue", "ignore"):
            return
        self.streams.error(rec)

    def fail(self, message: str, error_id: str, category: str = "NotSpecified", *,
             exception_type: str = "System.Exception", target: Any = None) -> None:
        """A terminating error: the pipeline ends Failed."""
        raise PipelineFailed(self.record(message, error_id, category, exception_type=exception_type, target=target))


async def call_handler(handler: Handler, inv: Invocation) -> None:
    """Run a sync or async handler."""
    result = handler(inv)
    if inspect.isawaitable(result):
        await result


# ---------------------------------------------------------------------------------------------------------------
# Errors PowerShell raises before a command runs
# ---------------------------------------------------------------------------------------------------------------
def command_not_found(name: str) -> PipelineFailed:
    """`The term 'X' is not recognized ...` (CommandNotFoundException), which fails the pipeline."""
    return PipelineFailed(ErrorRecord(
        message=(f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
                 f"program. Check the spelling of the name, or if a path was included, verify that the path is "
                 f"correct and try again."),
        category="ObjectNotFound", fqid="CommandNotFoundException",
        exception_type="System.Management.Automation.CommandNotFoundException", target=name))


def _binding_error(spec: CommandSpec, message: str, error_id: str, target: Any = None) -> PipelineFailed:
    return PipelineFailed(ErrorRecord(message=message, category="InvalidArgument", fqid=spec.fqid(error_id),
                                      exception_type="System.Management.Automation.ParameterBindingException",
                                      target=target))


def bind(spec: CommandSpec, cmd: PipelineCommand) -> dict[str, Any]:
    """Bind the command's named and positional arguments to `spec`'s parameters as PowerShell does: names are
    case-insensitive and may be abbreviated to a unique prefix. Raises PipelineFailed with PowerShell's
    ParameterBindingException record (NamedParameterNotFound, AmbiguousParameter, PositionalParameterNotFound,
    ParameterAlreadyBound, MissingMandatoryParameter)."""
    if spec.kind == "native":  # an executable gets its command line as text, -Name value pairs included
        named = [str(x) for sent, value in cmd.parameters.items() for x in (f"-{sent.lstrip('-')}", value)
                 if x is not True]
        return {"Arguments": named + [str(a) for a in cmd.args]}
    names = spec.all_parameters()
    bound: dict[str, Any] = {}
    for sent, value in cmd.parameters.items():
        key = sent.lstrip("-").lower()
        canonical = names.get(key)
        if canonical is None:
            matches = sorted({c for n, c in names.items() if n.startswith(key)})
            if len(matches) == 1:
                canonical = matches[0]
            elif len(matches) > 1:
                raise _binding_error(
                    spec, f"Parameter cannot be processed because the parameter name '{sent}' is ambiguous. "
                          f"Possible matches include: {' '.join('-' + m for m in matches)}.",
                    "AmbiguousParameter", sent)
            else:
                raise _binding_error(spec, f"A parameter cannot be found that matches parameter name '{sent}'.",
                                     "NamedParameterNotFound", sent)
        if canonical in bound:
            raise _binding_error(spec, f"Cannot bind parameter because parameter '{canonical}' is specified more "
                                       f"than once.", "ParameterAlreadyBound", sent)
        bound[canonical] = value
    free = [p for p in spec.positional if p not in bound]
    for arg in cmd.args:
        if not free:
            raise _binding_error(spec, f"A positional parameter cannot be found that accepts argument '{arg}'.",
                                 "PositionalParameterNotFound", arg)
        bound[free.pop(0)] = arg
    missing = [p for p in spec.mandatory if p not in bound]
    if missing:
        raise _binding_error(spec, f"Cannot process command because of one or more missing mandatory parameters: "
                                   f"{' '.join(missing)}.", "MissingMandatoryParameter")
    return bound


def enum_value(type_name: str, name: str) -> PSObj:
    """A .NET enum value as it arrives at a PSRP client (`System.ServiceProcess.ServiceControllerStatus` Running):
    pypsrp shows its name as `to_string`."""
    return PSObj([type_name, "System.Enum", "System.ValueType", "System.Object"], {}, name)


#: The table every emulated host uses (the area modules register into it at import).
DEFAULT_TABLE = HandlerTable()
register = DEFAULT_TABLE.register
register_script_kind = DEFAULT_TABLE.register_script_kind
