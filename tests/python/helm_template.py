"""`helm template` for the tests, with Helm v4 itself doing the work, as a library.

    python helm_template.py RELEASE CHART [-f VALUES]... [--set K=V]... [--set-string K=V]...
                            [--namespace NS] [--json]
    python helm_template.py --batch CHART

Prints what `helm template RELEASE CHART -f ... --set ... --set-string ... --namespace NS` prints:
the manifests as a YAML stream, each document headed `# Source: <template>`, in Helm's install
order; with `--json`, the same objects as one JSON list instead (what tests/it/helm.rs reads).
A failed render (a `fail` or `required` in the chart, values the chart's schema refuses, a bad
`--set`) exits 1 with Helm's message on stderr; a bad command line exits 2.

`--batch` renders many cases with one process and one loading of the chart (the differential
test renders a hundred): each line of stdin is a JSON object `{"release": …, "namespace": …,
"values": [YAML text, …], "sets": […], "set_strings": […]}` (all but `release` optional; the
texts are read as values files are), and each is answered, in order, by one line of stdout:
`{"objects": [...]}` (what `--json` prints) or `{"error": "<Helm's message>"}` (what a single
call prints after `Error: ` and exits 1 for). The process ends at the end of stdin, exit 0.

Run with the tests' virtual environment (tests/it/pyenv.rs), which has helm-python-sdk: Helm v4's
Go SDK behind a C ABI (import name `helm_python`). What comes from Helm and what is done here:

- Values files: each split into YAML documents as Helm's `LoadValues` splits them (a line that
  starts with `---`), each document parsed by Helm (`values_from_yaml`), the documents and then the
  files merged as Helm's `MergeMaps` merges them (maps deep, anything else replaced; later wins).
- `--set` and `--set-string`, all `--set` first, then all `--set-string`, each in order: Helm
  applies them with `strvals.ParseInto`, which parses *into* the merged values (so `a[1]=x` changes
  one element of a list a values file gave, and `a.b=x` where `a` is not a map is an error). The
  SDK has only Helm's parser into an empty map (`parse_set_string` for `--set`,
  `parse_set_string_values` for `--set-string`), so `parse_into` below is a line-by-line port of
  `ParseInto`, and every expression is also parsed by Helm itself into an empty map: Helm's
  syntax errors are the ones reported, and a port that ever disagrees with Helm stops the run.
- Rendering: `Chart.render(values, name=, namespace=)`, which does what an install does with the
  values given by the user: the subcharts' conditions, tags and import-values, the coalescing
  with the chart's defaults (a `null` deletes a default), the values schema, then the templates,
  with `.Release.IsInstall` true and revision 1 (as `helm template`). Values reach Helm as JSON
  and are decoded there as `float64`, so an integer given by `--set` prints as Helm prints a
  float (`1000000` as `1e+06`, and above 2^53 it is rounded) where the `helm` CLI keeps an int64.
- The output: as `helm template` builds it from what the templates gave: NOTES.txt and partials
  (`_*`) dropped, empty files skipped, files in path order split into documents, hooks apart,
  both sorted by kind in Helm's `InstallOrder` (stable), hooks after the manifests. `--json`
  parses each document with Helm's YAML parser (sigs.k8s.io/yaml, as kubectl and the API server
  read a manifest) and leaves out documents that hold no object.

Not supported: `--set-json`, `--set-file`, `--set-literal`, `--include-crds`, `--show-only`,
`--kube-version`, `--api-versions`, post-renderers; the namespace is "default" unless given
(the `helm` CLI would take the kubeconfig context's).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

import helm_python as helm

# ------------------------------------------------------------------------------------ values

def split_documents(text: str, name: str) -> list[str]:
    """The YAML documents of a values file, as Kubernetes' YAMLReader (Helm's LoadValues) splits them."""
    docs: list[str] = []
    buffer: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("---"):
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                fail(f"failed to parse {name}: error reading yaml document: invalid Yaml document separator: {rest}")
            if buffer:
                docs.append("".join(buffer))
                buffer = []
                continue
        buffer.append(line)
    if buffer:
        docs.append("".join(buffer))
    return docs


def merge_maps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Helm's MergeMaps: maps merge key by key, anything else in `b` replaces what `a` has."""
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_maps(out[k], v)
        else:
            out[k] = v
    return out


def load_values_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail(f"open {path}: {e.strerror}")
    return load_values_text(text, path)


def load_values_text(text: str, path: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for doc in split_documents(text, path):
        try:
            values = merge_maps(values, helm.values_from_yaml(doc))
        except helm.HelmError as e:
            fail(f"failed to parse {path}: cannot unmarshal yaml document: {e}")
    return values


# ------------------------------------------------------------------------------------ --set

class _Eof(Exception):
    """io.EOF of the Go parser: the end of the expression, which ends parsing without an error."""


class _NotList(Exception):
    """ErrNotList of the Go parser: the value is not a `{a,b}` list."""


class _Panic(Exception):
    """A failed type assertion in the Go parser, which Go recovers into an error."""


MAX_INDEX = 65536
MAX_NESTED_NAME_LEVEL = 30


def _go_type(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _as_list(v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise _Panic(f"interface conversion: interface {{}} is {_go_type(v)}, not []interface {{}}")
    return v


def _as_map(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _Panic(f"interface conversion: interface {{}} is {_go_type(v)}, not map[string]interface {{}}")
    return v


def _quote(s: str) -> str:
    """Go's %q, for the messages (the ASCII cases that matter here)."""
    return json.dumps(s, ensure_ascii=False)


def typed_val(v: str, strings_only: bool) -> Any:
    """strvals.typedVal: --set's types (bool, null, int64, else string); --set-string keeps strings."""
    if strings_only:
        return v
    if v.casefold() == "true":
        return True
    if v.casefold() == "false":
        return False
    if v.casefold() == "null":
        return None
    if v == "0":
        return 0
    if v and v[0] != "0" and re.fullmatch(r"[+-]?[0-9]+", v):
        n = int(v)
        if -(2**63) <= n < 2**63:
            return n
    return v


class _Parser:
    """A port of Helm's strvals parser (pkg/strvals/parser.go), function for function."""

    def __init__(self, text: str, data: dict[str, Any], strings_only: bool):
        self.s = text
        self.i = 0
        self.data = data
        self.strings_only = strings_only

    def read(self) -> str | None:
        if self.i >= len(self.s):
            return None
        self.i += 1
        return self.s[self.i - 1]

    def unread(self) -> None:
        self.i -= 1

    def runes_until(self, stop: str) -> tuple[str, str | None]:
        """The text up to a stop character (backslash escapes one), and that character; None at EOF."""
        v = []
        while True:
            r = self.read()
            if r is None:
                return "".join(v), None
            if r in stop:
                return "".join(v), r
            if r == "\\":
                nxt = self.read()
                if nxt is None:
                    return "".join(v), None
                v.append(nxt)
            else:
                v.append(r)

    def parse(self) -> None:
        while True:
            try:
                self.key(self.data, 0)
            except _Eof:
                return

    def key(self, data: dict[str, Any], level: int) -> None:
        try:
            self._key(data, level)
        except _Panic as p:
            raise ValueError(f"unable to parse key: {p}") from None

    def _key(self, data: dict[str, Any], level: int) -> None:
        k, last = self.runes_until("=[,.")
        if last is None:
            if not k:
                raise _Eof
            raise ValueError(f"key {_quote(k)} has no value")
        if last == "[":
            try:
                i = self.key_index()
            except ValueError as e:
                raise ValueError(f"error parsing index: {e}") from None
            # An index cut short by the end is an error wrapping io.EOF, which Go's parse() takes
            # for the end: nothing is set and there is no error (Helm parses "a[" to {}).
            lst: list[Any] = []
            if k in data:
                lst = _as_list(data[k])
            lst, err = self.list_item(lst, i, level)
            _set(data, k, lst)
            if err is not None:
                raise err
            return
        if last == "=":
            try:
                vl = self.val_list()
            except _Eof:
                _set(data, k, "")
                raise
            except _NotList:
                rs = self.val()
                _set(data, k, typed_val(rs, self.strings_only))
                return
            _set(data, k, vl)
            return
        if last == ",":
            _set(data, k, "")
            raise ValueError(f"key {_quote(k)} has no value (cannot end with ,)")
        # last == "."
        level += 1
        if level > MAX_NESTED_NAME_LEVEL:
            raise ValueError(
                f"value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
            )
        inner: dict[str, Any] = {}
        if k in data:
            inner = _as_map(data[k])
        err: BaseException | None = None
        try:
            self.key(inner, level)
        except (ValueError, _Eof) as e:
            err = e
        if err is None and not inner:
            raise ValueError(f"key map {_quote(k)} has no value")
        if inner:
            _set(data, k, inner)
        if err is not None:
            raise err

    def key_index(self) -> int:
        v, last = self.runes_until("]")
        if last is None:
            raise _Eof
        if not re.fullmatch(r"[+-]?[0-9]+", v):
            raise ValueError(f"strconv.Atoi: parsing {_quote(v)}: invalid syntax")
        n = int(v)
        if not -(2**63) <= n < 2**63:
            raise ValueError(f"strconv.Atoi: parsing {_quote(v)}: value out of range")
        return n

    def list_item(self, lst: list[Any], i: int, level: int) -> tuple[list[Any], BaseException | None]:
        """The Go function returns the list and an error together: the caller stores the list either way."""
        if i < 0:
            return lst, ValueError(f"negative {i} index not allowed")
        k, last = self.runes_until("[.=")
        if k:
            # Go's %q of a []rune: each rune quoted, in brackets.
            runes = " ".join("'" + c.replace("\\", "\\\\").replace("'", "\\'") + "'" for c in k)
            return lst, ValueError(f"unexpected data at end of array index: [{runes}]")
        if last is None:
            return lst, _Eof()
        if last == "=":
            try:
                vl = self.val_list()
            except _Eof:
                return set_index(lst, i, "")
            except _NotList:
                rs = self.val()
                return set_index(lst, i, typed_val(rs, self.strings_only))
            except ValueError as e:
                return lst, e
            return set_index(lst, i, vl)
        if last == "[":
            try:
                next_i = self.key_index()
            except ValueError as e:
                return lst, ValueError(f"error parsing index: {e}")
            except _Eof:
                return lst, _Eof()  # wraps io.EOF: the end, as above
            crt: list[Any] = []
            if len(lst) > i and lst[i] is not None:
                crt = _as_list(lst[i])
            lst2, err = self.list_item(crt, next_i, level)
            if err is not None:
                return lst, err
            return set_index(lst, i, lst2)
        # last == "."
        inner: dict[str, Any] = {}
        if len(lst) > i:
            if isinstance(lst[i], dict):
                inner = lst[i]
            else:
                lst[i] = inner  # "indices out of order": a fresh map in that place
        try:
            self.key(inner, level)
        except (ValueError, _Eof) as e:
            return lst, e
        return set_index(lst, i, inner)

    def val(self) -> str:
        v, _ = self.runes_until(",")
        return v

    def val_list(self) -> list[Any]:
        r = self.read()
        if r is None:
            raise _Eof
        if r != "{":
            self.unread()
            raise _NotList
        lst: list[Any] = []
        while True:
            rs, last = self.runes_until(",}")
            if last is None:
                raise ValueError("list must terminate with '}'")
            lst.append(typed_val(rs, self.strings_only))
            if last == "}":
                r = self.read()
                if r is not None and r != ",":
                    self.unread()
                return lst


def _set(data: dict[str, Any], key: str, val: Any) -> None:
    if key:
        data[key] = val


def set_index(lst: list[Any], index: int, val: Any) -> tuple[list[Any], BaseException | None]:
    if index < 0:
        return lst, ValueError(f"negative {index} index not allowed")
    if index > MAX_INDEX:
        return lst, ValueError(f"index of {index} is greater than maximum supported index of {MAX_INDEX}")
    if len(lst) <= index:
        lst = lst + [None] * (index + 1 - len(lst))
    lst[index] = val
    return lst, None


def parse_into(expression: str, dest: dict[str, Any], strings_only: bool) -> None:
    """strvals.ParseInto (strings_only: ParseIntoString); raises ValueError with Helm's message."""
    _Parser(expression, dest, strings_only).parse()


def apply_set(expression: str, base: dict[str, Any], strings_only: bool) -> None:
    flag = "--set-string" if strings_only else "--set"
    helm_parse = helm.parse_set_string_values if strings_only else helm.parse_set_string
    try:
        by_helm = helm_parse(expression)
    except helm.HelmError as e:
        fail(f"failed parsing {flag} data: {e}")
    by_port: dict[str, Any] = {}
    try:
        parse_into(expression, by_port, strings_only)
    except ValueError as e:
        by_port = {"<error>": str(e)}
    if _canonical(by_port) != _canonical(by_helm):
        print(
            f"helm_template.py: its port of Helm's --set parser disagrees with Helm on {flag} {expression!r}:\n"
            f"  Helm: {_canonical(by_helm)}\n  port: {_canonical(by_port)}\n"
            "(a bug in tests/python/helm_template.py)",
            file=sys.stderr,
        )
        sys.exit(3)
    try:
        parse_into(expression, base, strings_only)
    except ValueError as e:
        fail(f"failed parsing {flag} data: {e}")


def _canonical(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


# ------------------------------------------------------------------------------------ output

# Helm's releaseutil.InstallOrder.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
    "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]  # fmt: skip
_RANK = {kind: i for i, kind in enumerate(INSTALL_ORDER)}

HOOK_EVENTS = {
    "pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade", "post-upgrade",
    "pre-rollback", "post-rollback", "test", "test-success",
}  # fmt: skip

# releaseutil.SplitManifests' separator; Go's \s is ASCII whitespace without \v.
_SEP = re.compile(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*")


def split_manifests(text: str) -> list[str]:
    docs = _SEP.split(text.lstrip())
    return [d.lstrip() for d in docs if d != ""]


def sort_key(kind: str) -> tuple[int, str]:
    """lessByKind as a key for a stable sort: known kinds in InstallOrder, then the others by name."""
    rank = _RANK.get(kind)
    return (0, f"{rank:04d}") if rank is not None else (1, kind)


class Document:
    def __init__(self, path: str, content: str):
        self.path = path
        self.content = content
        try:
            self.obj = helm.values_from_yaml(content)
        except helm.HelmError as e:
            fail(f"YAML parse error on {path}: {e}")
        self.kind = self.obj.get("kind") or ""
        if not isinstance(self.kind, str):
            fail(f"YAML parse error on {path}: kind is not a string")
        metadata = self.obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        self.hook = annotations.get("helm.sh/hook") if isinstance(annotations, dict) else None


def sort_manifests(files: dict[str, str]) -> tuple[list[Document], list[Document]]:
    """releaseutil.SortManifests: (manifests, hooks), each sorted by kind."""
    manifests: list[Document] = []
    hooks: list[Document] = []
    for path in sorted(files):
        content = files[path]
        if path.endswith("NOTES.txt") or path.rsplit("/", 1)[-1].startswith("_") or not content.strip():
            continue
        for doc in split_manifests(content):
            d = Document(path, doc)
            if d.hook is None:
                manifests.append(d)
            elif all(e.strip().lower() in HOOK_EVENTS for e in str(d.hook).split(",")):
                hooks.append(d)
            # A hook of an unknown event is left out, as Helm does.
    manifests.sort(key=lambda d: sort_key(d.kind))
    hooks.sort(key=lambda d: sort_key(d.kind))
    return manifests, hooks


def yaml_stream(manifests: list[Document], hooks: list[Document]) -> str:
    """`helm template`'s text: the release manifest trimmed, then the hooks."""
    text = "".join(f"---\n# Source: {d.path}\n{d.content}\n" for d in manifests).strip() + "\n"
    return text + "".join(f"---\n# Source: {d.path}\n{d.content}\n" for d in hooks)


# ------------------------------------------------------------------------------------ main

class Failure(Exception):
    """Helm's error for the current render: a single call exits 1 with it, a batch answers it."""


def fail(message: str) -> None:
    raise Failure(message)


def merged_values(files: list[tuple[str, str]], sets: list[str], set_strings: list[str]) -> dict[str, Any]:
    """The values `-f` files (name, text) and `--set`s give, merged in Helm's order."""
    base: dict[str, Any] = {}
    for name, text in files:
        base = merge_maps(base, load_values_text(text, name))
    for expression in sets:
        apply_set(expression, base, strings_only=False)
    for expression in set_strings:
        apply_set(expression, base, strings_only=True)
    return base


def load_chart(path: str) -> Any:
    """The chart, checked as `helm template` checks it before rendering."""
    try:
        chart = helm.Chart.load(path)
    except helm.HelmError as e:
        fail(str(e))
    meta = chart.metadata
    if meta.get("type") == "library":
        fail("library charts are not installable")
    loaded = {d.get("name") for d in chart.dependencies}
    missing = [d["name"] for d in meta.get("dependencies") or [] if d.get("name") not in loaded]
    if missing:
        fail(
            "An error occurred while checking for chart dependencies. You may need to run "
            "`helm dependency build` to fetch missing dependencies: found in Chart.yaml, but "
            f"missing in charts/ directory: {', '.join(missing)}"
        )
    return chart


def render(chart: Any, values: dict[str, Any], release: str, namespace: str) -> tuple[list[Document], list[Document]]:
    try:
        helm.validate_release_name(release)
        files = chart.render(values, name=release, namespace=namespace, revision=1, is_install=True)
    except helm.HelmError as e:
        fail(str(e))
    return sort_manifests(files)


def objects(manifests: list[Document], hooks: list[Document]) -> list[Any]:
    return [d.obj for d in manifests + hooks if d.obj]


def batch(chart_path: str) -> None:
    """One answer line per request line; see the module's docstring."""
    try:
        chart = load_chart(chart_path)
    except Failure as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)
    with chart:
        for line in sys.stdin:
            if not line.strip():
                continue
            case = json.loads(line)
            try:
                files = [(f"values-{i}.yaml", t) for i, t in enumerate(case.get("values") or [])]
                values = merged_values(files, case.get("sets") or [], case.get("set_strings") or [])
                manifests, hooks = render(chart, values, case["release"], case.get("namespace") or "default")
                answer: dict[str, Any] = {"objects": objects(manifests, hooks)}
            except Failure as e:
                answer = {"error": str(e)}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        batch(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description="helm template, by Helm v4 as a library")
    ap.add_argument("release")
    ap.add_argument("chart")
    ap.add_argument("-f", "--values", action="append", default=[], metavar="FILE")
    ap.add_argument("--set", action="append", default=[], metavar="K=V")
    ap.add_argument("--set-string", action="append", default=[], metavar="K=V")
    ap.add_argument("-n", "--namespace", default="default")
    ap.add_argument("--json", action="store_true", help="one JSON list of the objects")
    args = ap.parse_args()

    try:
        base: dict[str, Any] = {}
        for path in args.values:
            base = merge_maps(base, load_values_file(path))
        for expression in args.set:
            apply_set(expression, base, strings_only=False)
        for expression in args.set_string:
            apply_set(expression, base, strings_only=True)
        # The release name is checked before the chart is read, as `helm template` does.
        try:
            helm.validate_release_name(args.release)
        except helm.HelmError as e:
            fail(str(e))
        with load_chart(args.chart) as chart:
            manifests, hooks = render(chart, base, args.release, args.namespace)
    except Failure as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)

    if args.json:
        json.dump(objects(manifests, hooks), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(yaml_stream(manifests, hooks))


if __name__ == "__main__":
    main()
