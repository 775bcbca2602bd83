"""`calicoctl` (v3.22) on the emulated control plane: the subset the runbook and the join flow use.

Commands: `get` (`-o ps|wide|yaml|json|custom-columns=...`), `apply|create|replace -f FILE|-`, `delete`,
`patch KIND NAME -p JSON`, `ipam configure --strictaffinity=...`, `ipam show [--show-blocks|--show-configuration|
--ip=IP]`, `version`. Output and error texts are calicoctl's own (tabwriter tables, Go YAML/JSON, go-pretty IPAM
tables, `Successfully applied 1 'IPPool' resource(s)`); errors go to stderr with exit code 1.

The datastore is the Kubernetes lab's (`crd.projectcalico.org` objects in `kube.store`), or, when the lab runs
the `etcd` scenario, `kube.calico_etcd`: objects the Kubernetes API never sees.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import yaml

from .calico_store import (V3, CalicoDatastore, CalicoError, DoesNotExist, Kind, check_document, kind_for_alias,
                           kind_for_document, ordered)
from .goprint import go_json, go_yaml, pretty_table, tabwriter
from .kube.errors import ApiError
from .shell import Invocation, Result

CLIENT_VERSION = "v3.22.1"
GIT_COMMIT = "82b6f5d5e"
IPAM_CONFIG_NAME = "default"

USAGE = """Usage:
  calicoctl [options] <command> [<args>...]

    create       Create a resource by file, directory or stdin.
    replace      Replace a resource by file, directory or stdin.
    apply        Apply a resource by file, directory or stdin.
    patch        Patch a preexisting resource in place.
    delete       Delete a resource identified by file, directory, stdin or resource type and name.
    get          Get a resource identified by file, directory, stdin or resource type and name.
    ipam         IP address management.
    version      Display the version of this binary.

Options:
  -h --help                    Show this screen.
  -l --log-level=<level>       Set the log level [default: panic]
     --context=<context>       The name of the kubeconfig context to use.
     --allow-version-mismatch  Allow client and cluster versions mismatch.
"""


class Fail(Exception):
    """End the command with exit code 1: `message` on stderr, `stdout` (what was printed first) on stdout."""

    def __init__(self, message: str, stdout: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.stdout = stdout


class InvalidOption(Exception):
    pass


# Option specs: long name → (short name or None, takes a value).
_COMMON = {"--config": ("-c", True), "--context": (None, True), "--allow-version-mismatch": (None, False),
           "--help": ("-h", False)}
_FILE = {"--filename": ("-f", True), "--recursive": ("-R", False), "--skip-empty": (None, False)}
_SPECS: dict[str, dict[str, tuple[str | None, bool]]] = {
    "get": {**_COMMON, **_FILE, "--output": ("-o", True), "--namespace": ("-n", True),
            "--all-namespaces": ("-A", False), "--export": (None, False)},
    "apply": {**_COMMON, **_FILE, "--namespace": ("-n", True)},
    "create": {**_COMMON, **_FILE, "--namespace": ("-n", True), "--skip-exists": (None, False)},
    "replace": {**_COMMON, **_FILE, "--namespace": ("-n", True)},
    "delete": {**_COMMON, **_FILE, "--namespace": ("-n", True), "--skip-not-exists": (None, False)},
    "patch": {**_COMMON, "--patch": ("-p", True), "--namespace": ("-n", True)},
    "version": {**_COMMON, "--poll": (None, True)},
    "ipam configure": {**_COMMON, "--strictaffinity": (None, True), "--max-blocks-per-host": (None, True)},
    "ipam show": {**_COMMON, "--ip": (None, True), "--show-blocks": (None, False),
                  "--show-borrowed": (None, False), "--show-configuration": (None, False)},
}


def parse_options(args: list[str], spec: dict[str, tuple[str | None, bool]]) -> tuple[dict[str, Any], list[str]]:
    """docopt-style options: `--long=v`, `--long v`, `-s v`, `-sv`, flags; the rest are positionals."""
    shorts = {s: long for long, (s, _) in spec.items() if s}
    opts: dict[str, Any] = {}
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a.partition("=")
            if name not in spec:
                raise InvalidOption(name)
            if spec[name][1]:
                if not eq:
                    if i + 1 >= len(args):
                        raise InvalidOption(name)
                    value = args[i + 1]
                    i += 1
                opts[name] = value
            elif eq:
                raise InvalidOption(name)
            else:
                opts[name] = True
        elif a.startswith("-") and len(a) > 1 and a != "-":
            short = a[:2]
            if short == "-a":  # calicoctl's backward-compatible spelling of -A
                short = "-A"
            long = shorts.get(short)
            if long is None:
                raise InvalidOption(short)
            if spec[long][1]:
                value = a[2:]
                if not value:
                    if i + 1 >= len(args):
                        raise InvalidOption(short)
                    value = args[i + 1]
                    i += 1
                opts[long] = value
            elif len(a) > 2:
                raise InvalidOption(a)
            else:
                opts[long] = True
        else:
            pos.append(a)
        i += 1
    return opts, pos


def _parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _errors(errs: list[str]) -> str:
    """A Go `[]error` formatted with %v."""
    return "[" + " ".join(errs) + "]"


class Calicoctl:
    """The `calicoctl` program on k8s-m. `kube` is the Kubernetes lab (`.store`, and `.calico_etcd` when the
    Calico datastore is etcd)."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube

    def datastore(self) -> CalicoDatastore:
        """The datastore calicoctl is configured for on this host: etcd when the lab has one, else Kubernetes."""
        etcd = getattr(self.kube, "calico_etcd", None)
        if etcd is not None:
            return CalicoDatastore(etcd, "etcdv3")
        return CalicoDatastore(self.kube.store, "kdd")

    async def __call__(self, inv: Invocation) -> Result:
        args = inv.argv[1:]
        while args and args[0].startswith("-"):
            flag = args[0]
            if flag in ("-h", "--help"):
                return Result.ok(USAGE)
            if flag.startswith(("--log-level", "-l")):
                args = args[1:] if "=" in flag or (flag.startswith("-l") and len(flag) > 2) else args[2:]
                continue
            if flag.startswith("--context"):
                args = args[1:] if "=" in flag else args[2:]
                continue
            if flag == "--allow-version-mismatch":
                args = args[1:]
                continue
            return Result.fail(f"Invalid option: '{' '.join(inv.argv[1:])}'. Use flag '--help' to read about a "
                               "specific subcommand.", stdout="")
        if not args:
            return Result.ok(USAGE)
        command = args[0]
        handlers = {"get": self._get, "apply": self._apply, "create": self._create, "replace": self._replace,
                    "delete": self._delete, "patch": self._patch, "ipam": self._ipam, "version": self._version}
        if command not in handlers:
            if command in ("node", "label", "validate", "datastore", "cluster", "convert"):
                return Result.fail(f"lab: 'calicoctl {command}' is not emulated on this host")
            return Result.fail(f'unknown command: "{command}"\n{USAGE}')
        ds = self.datastore()
        try:
            out = await handlers[command](args, inv, ds)
            result = Result.ok(out)
        except Fail as e:
            result = Result.fail(e.message, stdout=e.stdout)
        except InvalidOption:
            result = Result.fail(f"Invalid option: 'calicoctl {' '.join(args)}'. Use flag '--help' to read about "
                                 "a specific subcommand.")
        if ds.changes:
            inv.session.changed = True
        return result

    # --- get --------------------------------------------------------------------------------------------------
    async def _get(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        opts, pos = parse_options(args[1:], _SPECS["get"])
        if opts.get("--help"):
            return "Usage:\n  calicoctl get ( (<KIND> [<NAME>...]) | --filename=<FILENAME>) [--output=<OUTPUT>]\n"
        output = opts.get("--output", "ps")
        printer = self._printer(output, opts)
        targets: list[tuple[Kind, str | None, str | None]] = []
        if "--filename" in opts:
            for kind, doc in await self._load(opts["--filename"], inv, opts):
                meta = doc.get("metadata") or {}
                targets.append((kind, meta.get("name") or "", meta.get("namespace")))
        else:
            if not pos:
                raise InvalidOption("<KIND>")
            kind = kind_for_alias(pos[0])
            if kind is None:
                raise Fail(f"Failed to get resources: resource type '{pos[0]}' is not supported")
            names = pos[1:] or [None]
            if any(n == "" for n in names):
                raise Fail("Failed to get resources: resource name may not be empty")
            ns_opt = opts.get("--namespace")
            if not kind.namespaced and (ns_opt or opts.get("--all-namespaces")):
                raise Fail(f"{kind.kind} is not namespaced")
            if opts.get("--all-namespaces") and ns_opt:
                raise Fail("cannot use both --namespace and --all-namespaces flags at the same time")
            ns = None if opts.get("--all-namespaces") else (ns_opt or "default")
            if opts.get("--all-namespaces") and names != [None]:
                raise Fail("cannot use --all-namespace flag for getting a single resource")
            targets = [(kind, n, ns) for n in names]
        resources: list[tuple[Kind, Any]] = []
        errs: list[str] = []
        for kind, name, ns in targets:
            try:
                if name is None:
                    resources.append((kind, ds.list_object(kind, ns if kind.namespaced else None)))
                else:
                    obj = ds.get(kind, name, ns)
                    if opts.get("--export"):
                        for key in ("namespace", "uid", "resourceVersion", "creationTimestamp"):
                            obj["metadata"].pop(key, None)
                    resources.append((kind, obj))
            except (CalicoError, ApiError) as e:
                errs.append(getattr(e, "message", None) or str(e))
        text = printer(resources)
        if errs:
            raise Fail("\n".join(errs), stdout=text)
        return text

    def _printer(self, output: str, opts: dict[str, Any]):
        print_ns = bool(opts.get("--all-namespaces") or opts.get("--namespace"))
        if output in ("yaml", "yml"):
            return lambda res: go_yaml(self._plain(res)) if res else "null\n"
        if output == "json":
            return lambda res: go_json(self._plain(res, for_json=True)) if res else "null\n"
        if output in ("ps", "wide"):
            return lambda res: self._tables(res, None, output == "wide", print_ns)
        key, _, value = output.partition("=")
        if key == "custom-columns":
            if not value:
                raise Fail("need to specify at least one column")
            return lambda res: self._tables(res, value.split(","), False, print_ns)
        if key in ("go-template", "go-template-file"):
            raise Fail(f"lab: calicoctl output format '{key}' is not emulated on this host")
        raise Fail(f"unrecognized output format '{output}'")

    @staticmethod
    def _plain(resources: list[tuple[Kind, Any]], *, for_json: bool = False) -> Any:
        def one(kind: Kind, obj: Any) -> Any:
            if not for_json:
                return obj
            if obj.get("kind", "").endswith("List"):
                return {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "metadata": obj["metadata"],
                        "items": [ordered(kind, i) for i in obj["items"]]}
            return ordered(kind, obj)

        if len(resources) == 1:
            return one(*resources[0])
        return [one(k, o) for k, o in resources]

    @staticmethod
    def _tables(resources: list[tuple[Kind, Any]], headings: list[str] | None, wide: bool, print_ns: bool) -> str:
        out = []
        for kind, obj in resources:
            cols = list(headings or (kind.wide if wide else kind.headings))
            if kind.namespaced and print_ns and "NAMESPACE" not in cols:
                cols.insert(0, "NAMESPACE")
            valid = {"NAME", "NAMESPACE", *kind.cells}
            for c in cols:
                if c not in valid:
                    raise Fail(f"Unknown heading {c}, valid values are: {', '.join(sorted(valid))}")
            items = obj["items"] if obj.get("kind", "").endswith("List") else [obj]
            rows = [cols] + [[kind.cell(c, item) for c in cols] for item in items]
            out.append(tabwriter(rows) + "\n")
        return "".join(out)

    # --- loading documents ------------------------------------------------------------------------------------
    async def _load(self, filename: str, inv: Invocation, opts: dict[str, Any]) -> list[tuple[Kind, dict]]:
        """Documents from a file (or stdin for `-`), as (kind, v3 document) pairs; errors as calicoctl words them."""
        if filename == "-":
            data = await inv.stdin.read()
        else:
            try:
                data = inv.fs.read_bytes(filename)
            except FileNotFoundError:
                raise Fail(f"Failed to execute command: open {filename}: no such file or directory") from None
            except IsADirectoryError:
                raise Fail(f"lab: directories as --filename are not emulated ({filename})") from None
        try:
            docs = [d for d in yaml.safe_load_all(data.decode("utf-8", "replace")) if d is not None]
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise Fail(f"Failed to execute command: yaml: {where}{getattr(e, 'problem', None) or e}") from None
        out: list[tuple[Kind, dict]] = []

        def add(doc: Any) -> None:
            if isinstance(doc, list):
                for d in doc:
                    add(d)
                return
            if not isinstance(doc, dict):
                raise Fail("Failed to execute command: error unmarshaling JSON: cannot unmarshal a non-object "
                           "into a resource")
            api, kind_name = doc.get("apiVersion", ""), doc.get("kind", "")
            if api == V3 and kind_name.endswith("List") and isinstance(doc.get("items"), list):
                for item in doc["items"]:
                    add(item)
                return
            kind = kind_for_document(api, kind_name)
            if kind is None:
                raise Fail(f"Failed to execute command: Unknown resource type ({kind_name}) and/or version "
                           f"({api})")
            try:
                check_document(kind, doc)
            except CalicoError as e:
                raise Fail(str(e)) from None
            out.append((kind, doc))

        for doc in docs:
            add(doc)
        if not out and not opts.get("--skip-empty"):
            raise Fail(f"No resources specified in file {filename}")
        return out

    # --- apply / create / replace / delete --------------------------------------------------------------------
    async def _write(self, verb: str, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        opts, pos = parse_options(args[1:], _SPECS[verb])
        if "--filename" not in opts or pos:
            raise InvalidOption("--filename")
        docs = await self._load(opts["--filename"], inv, opts)
        kinds = {k.kind for k, _ in docs}
        single = next(iter(kinds)) if len(kinds) == 1 else ""
        handled, errs = 0, []
        for kind, doc in docs:
            doc = copy.deepcopy(doc)
            if kind.namespaced and opts.get("--namespace"):
                doc.setdefault("metadata", {}).setdefault("namespace", opts["--namespace"])
            try:
                if verb == "apply":
                    self._apply_one(ds, kind, doc)
                elif verb == "create":
                    try:
                        ds.create(kind, doc)
                    except CalicoError as e:
                        if not (opts.get("--skip-exists") and "already exists" in str(e)):
                            raise
                else:
                    if kind.readonly:
                        raise CalicoError(f"operation replace is not supported on {kind.kind}: resource is readonly")
                    ds.update(kind, doc)
                handled += 1
            except (CalicoError, ApiError) as e:
                errs.append(getattr(e, "message", None) or str(e))
                if verb == "replace":
                    break
        noun = {"apply": "applied", "create": "created", "replace": "replaced"}[verb]
        if handled and not errs:
            what = f"'{single}' resource(s)" if single else "resource(s)"
            return f"Successfully {noun} {handled} {what}\n"
        if verb == "replace":
            raise Fail(f"Failed to replace '{single}' resource: {errs[0]}" if single
                       else f"Failed to replace any resources: {errs[0]}")
        if handled == 0:
            if len(docs) == 1:
                raise Fail(f"Failed to {verb} '{single}' resource: {_errors(errs)}")
            if single:
                raise Fail(f"Failed to {verb} any '{single}' resources: {_errors(errs)}")
            raise Fail(f"Failed to {verb} any resources: {_errors(errs)}")
        raise Fail(f"Hit error(s): {_errors(errs)}")

    @staticmethod
    def _apply_one(ds: CalicoDatastore, kind: Kind, doc: dict) -> None:
        """calicoctl apply: create without a resourceVersion; if it exists, update with the one sent."""
        if kind.readonly:
            raise CalicoError(f"operation apply is not supported on {kind.kind}: resource is readonly")
        if ds.try_get(kind, (doc.get("metadata") or {}).get("name", ""),
                      (doc.get("metadata") or {}).get("namespace")) is None:
            ds.create(kind, doc)
        else:
            ds.update(kind, doc)

    async def _apply(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        return await self._write("apply", args, inv, ds)

    async def _create(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        return await self._write("create", args, inv, ds)

    async def _replace(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        return await self._write("replace", args, inv, ds)

    async def _delete(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        opts, pos = parse_options(args[1:], _SPECS["delete"])
        if "--filename" in opts:
            targets = [(k, d["metadata"].get("name", ""), d["metadata"].get("namespace"))
                       for k, d in await self._load(opts["--filename"], inv, opts)]
        else:
            if len(pos) < 2:
                raise InvalidOption("<NAME>")
            kind = kind_for_alias(pos[0])
            if kind is None:
                raise Fail(f"resource type '{pos[0]}' is not supported")
            targets = [(kind, n, opts.get("--namespace")) for n in pos[1:]]
        kinds = {k.kind for k, _, _ in targets}
        single = next(iter(kinds)) if len(kinds) == 1 else ""
        handled, errs = 0, []
        for kind, name, ns in targets:
            try:
                ds.delete(kind, name, ns)
                handled += 1
            except DoesNotExist as e:
                if opts.get("--skip-not-exists"):
                    handled += 1
                else:
                    errs.append(str(e))
            except (CalicoError, ApiError) as e:
                errs.append(getattr(e, "message", None) or str(e))
        if handled and not errs:
            return f"Successfully deleted {handled} '{single}' resource(s)\n" if single else \
                f"Successfully deleted {handled} resource(s)\n"
        if handled == 0:
            if len(targets) == 1:
                raise Fail(f"Failed to delete '{single}' resource: {_errors(errs)}")
            raise Fail(f"Failed to delete any '{single}' resources: {_errors(errs)}")
        raise Fail(f"Hit error(s): {_errors(errs)}")

    # --- patch ------------------------------------------------------------------------------------------------
    async def _patch(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        opts, pos = parse_options(args[1:], _SPECS["patch"])
        if len(pos) != 2 or "--patch" not in opts:
            raise InvalidOption("<NAME>")
        kind = kind_for_alias(pos[0])
        if kind is None:
            raise Fail(f"resource type '{pos[0]}' is not supported")
        ns = opts.get("--namespace")
        try:
            current = ds.get(kind, pos[1], ns)
        except (CalicoError, ApiError) as e:
            raise Fail(f"Hit error: {getattr(e, 'message', None) or e}") from None
        try:
            patch = json.loads(opts["--patch"])
        except json.JSONDecodeError as e:
            raise Fail(f"Hit error: permorming strategic merge patch: invalid character in JSON patch: {e.msg}") \
                from None
        if not isinstance(patch, dict):
            raise Fail("Hit error: permorming strategic merge patch: cannot unmarshal a non-object patch")
        patched = merge_patch(current, patch)
        try:
            check_document(kind, patched)
        except CalicoError as e:
            raise Fail(str(e)) from None
        patched["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion", "")
        try:
            ds.update(kind, patched)
        except (CalicoError, ApiError) as e:
            raise Fail(f"Hit error: updating existing resource: {getattr(e, 'message', None) or e}") from None
        return f"Successfully patched 1 '{kind.kind}' resource\n"

    # --- ipam -------------------------------------------------------------------------------------------------
    async def _ipam(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        sub = args[1] if len(args) > 1 else ""
        if sub == "configure":
            return self._ipam_configure(args, ds)
        if sub == "show":
            return self._ipam_show(args, ds)
        if sub in ("check", "release", "split"):
            raise Fail(f"lab: 'calicoctl ipam {sub}' is not emulated on this host")
        raise InvalidOption(sub)

    def ipam_config(self, ds: CalicoDatastore) -> dict[str, Any]:
        """libcalico's GetIPAMConfig: the stored config, or the defaults when there is none."""
        kind = kind_for_alias("ipamconfig")
        obj = ds.try_get(kind, IPAM_CONFIG_NAME)
        spec = (obj or {}).get("spec") or {}
        return {"strictAffinity": bool(spec.get("strictAffinity", False)),
                "autoAllocateBlocks": bool(spec.get("autoAllocateBlocks", True)),
                "maxBlocksPerHost": int(spec.get("maxBlocksPerHost", 0) or 0)}

    def _ipam_configure(self, args: list[str], ds: CalicoDatastore) -> str:
        opts, pos = parse_options(args[2:], _SPECS["ipam configure"])
        if pos or "--strictaffinity" not in opts and "--max-blocks-per-host" not in opts:
            raise InvalidOption("--strictaffinity")
        strict = None
        if "--strictaffinity" in opts:
            strict = _parse_bool(opts["--strictaffinity"])
            if strict is None:
                raise Fail("invalid value. Use true or false to set strictaffinity")
        max_blocks = None
        if "--max-blocks-per-host" in opts:
            try:
                max_blocks = int(opts["--max-blocks-per-host"])
            except ValueError:
                raise Fail("invalid value for maxblockhost. Use a valid number") from None
        kind = kind_for_alias("ipamconfig")
        try:
            existing = ds.try_get(kind, IPAM_CONFIG_NAME)
            if existing is None:
                spec = self.ipam_config(ds)
                if strict is not None:
                    spec["strictAffinity"] = strict
                if max_blocks is not None:
                    spec["maxBlocksPerHost"] = max_blocks
                if not spec["maxBlocksPerHost"]:
                    spec.pop("maxBlocksPerHost")
                ds.create(kind, {"apiVersion": V3, "kind": kind.kind, "metadata": {"name": IPAM_CONFIG_NAME},
                                 "spec": spec})
            else:
                # Read-modify-write keeping every other field of the stored config.
                if strict is not None:
                    existing["spec"]["strictAffinity"] = strict
                if max_blocks is not None:
                    existing["spec"]["maxBlocksPerHost"] = max_blocks
                existing["spec"].setdefault("autoAllocateBlocks", True)
                ds.update(kind, existing)
        except (CalicoError, ApiError) as e:
            raise Fail(f"error: {getattr(e, 'message', None) or e}") from None
        out = ""
        if strict is not None:
            out += f"Successfully set StrictAffinity to: {'true' if strict else 'false'}\n"
        if max_blocks is not None:
            out += f"Successfully set MaxBlocksPerHost to: {max_blocks}\n"
        return out

    def _ipam_show(self, args: list[str], ds: CalicoDatastore) -> str:
        opts, pos = parse_options(args[2:], _SPECS["ipam show"])
        if pos:
            raise InvalidOption(pos[0])
        if opts.get("--show-configuration"):
            cfg = self.ipam_config(ds)
            rows = [["StrictAffinity", str(cfg["strictAffinity"]).lower()],
                    ["AutoAllocateBlocks", str(cfg["autoAllocateBlocks"]).lower()],
                    ["MaxBlocksPerHost", str(cfg["maxBlocksPerHost"])]]
            return pretty_table(["PROPERTY", "VALUE"], rows)
        usage = IPAMUsage(ds, self.kube)
        if "--ip" in opts:
            return usage.show_ip(opts["--ip"])
        if opts.get("--show-borrowed"):
            return pretty_table(["IP", "BORROWING-NODE", "BLOCK", "BLOCK OWNER", "TYPE", "ALLOCATED-TO"], [])
        try:
            pools = ds.list(kind_for_alias("ippool"))
        except (CalicoError, ApiError) as e:
            raise Fail(getattr(e, "message", None) or str(e)) from None
        rows = []
        for pool in pools:
            net = ipaddress.ip_network(pool["spec"]["cidr"], strict=False)
            rows.append(_usage_row("IP Pool", str(net), net.num_addresses, usage.in_use(net)))
            if opts.get("--show-blocks"):
                for block_net, used in usage.blocks_in(net):
                    rows.append(_usage_row("Block", str(block_net), block_net.num_addresses, used))
        return pretty_table(["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"], rows)

    # --- version ----------------------------------------------------------------------------------------------
    async def _version(self, args: list[str], inv: Invocation, ds: CalicoDatastore) -> str:
        parse_options(args[1:], _SPECS["version"])
        kind = kind_for_alias("clusterinformation")
        try:
            info = ds.get(kind, "default")
        except (CalicoError, ApiError) as e:
            head = f"Client Version:    {CLIENT_VERSION}\nGit commit:        {GIT_COMMIT}\n"
            raise Fail(f"Unable to retrieve Cluster Version or Type: {getattr(e, 'message', None) or e}",
                       stdout=head) from None
        spec = info.get("spec") or {}
        cluster_version = spec.get("calicoVersion") or "unknown"
        # The host's calicoctl matches the cluster's minor release (the runbook installs the matching binary).
        client = cluster_version if cluster_version.startswith("v3.") else CLIENT_VERSION
        return (f"Client Version:    {client}\nGit commit:        {GIT_COMMIT}\n"
                f"Cluster Version:   {cluster_version}\nCluster Type:      {spec.get('clusterType') or 'unknown'}\n")


def _usage_row(grouping: str, cidr: str, capacity: int, in_use: int) -> list[str]:
    def pct(n: int) -> str:
        return f"{n:.5g} ({100 * n / capacity:.0f}%)"

    return [grouping, cidr, f"{float(capacity):.5g}", pct(in_use), pct(capacity - in_use)]


class IPAMUsage:
    """Which pod IPs are in use: from Calico's IPAM blocks when the datastore has any, else from the pods."""

    def __init__(self, ds: CalicoDatastore, kube: Any) -> None:
        self.blocks = [b for b in ds.raw_list("ipamblocks") if not (b.get("spec") or {}).get("deleted")]
        self.kube = kube

    def _pod_ips(self) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, dict]]:
        rt = self.kube.store.registry.get("", "pods")
        out = []
        for pod in self.kube.store.list(rt):
            status, spec = pod.get("status") or {}, pod.get("spec") or {}
            if spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed") or not status.get("podIP"):
                continue
            try:
                out.append((ipaddress.ip_address(status["podIP"]), pod))
            except ValueError:
                continue
        return out

    @staticmethod
    def _allocated(block: dict) -> int:
        return sum(1 for a in (block.get("spec") or {}).get("allocations") or [] if a is not None)

    def blocks_in(self, pool: ipaddress._BaseNetwork) -> list[tuple[ipaddress._BaseNetwork, int]]:
        out = []
        for b in self.blocks:
            try:
                net = ipaddress.ip_network((b.get("spec") or {}).get("cidr", ""), strict=False)
            except ValueError:
                continue
            if net.version == pool.version and net.subnet_of(pool):
                out.append((net, self._allocated(b)))
        return sorted(out, key=lambda x: x[0])

    def in_use(self, pool: ipaddress._BaseNetwork) -> int:
        if self.blocks:
            return sum(n for _, n in self.blocks_in(pool))
        return sum(1 for ip, _ in self._pod_ips() if ip.version == pool.version and ip in pool)

    def show_ip(self, text: str) -> str:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise Fail(f"invalid IP address: {text}") from None
        for pod_ip, pod in self._pod_ips():
            if pod_ip == ip:
                meta = pod["metadata"]
                return (f"IP {ip} is in use\nAttributes:\n  namespace: {meta.get('namespace', '')}\n"
                        f"  node: {(pod.get('spec') or {}).get('nodeName', '')}\n  pod: {meta['name']}\n")
        return f"IP {ip} is not currently assigned\n"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what a strategic merge patch amounts to for Calico's types): objects merge,
    `null` deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out

