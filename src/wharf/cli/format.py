"""``--format``: the subset of Go's text/template that docker users write, and docker's tables.

Supported: ``{{.A.B}}``, ``{{.}}``, ``{{json .X}}``, ``{{index .M "k"}}``,
``{{range .X}}…{{end}}`` (with ``$k, $v :=``), ``{{if}}/{{else if}}/{{else}}``,
``{{with}}``, pipes (``{{.X | printf "%s"}}``), parentheses, ``{{-``/``-}}``
trimming and docker's functions (json, join, split, upper, lower, title, pad,
truncate, println) plus Go's builtins (index, len, printf, print, eq, ne, lt,
le, gt, ge, not, and, or). Methods are callables in the data:
``{{.Label "com.example"}}``.
"""

from __future__ import annotations

import re
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

MISSING = object()
_TOKEN = re.compile(r'''\s*(?:
    (?P<chain>(?<=\))(?:\.\w+)+) |
    (?P<str>"(?:\\.|[^"\\])*") | (?P<raw>`[^`]*`) | (?P<num>-?\d+(?:\.\d+)?) |
    (?P<var>\$\w*(?:\.\w+)*) | (?P<field>(?:\.\w+)+|\.) | (?P<decl>:?=) |
    (?P<ident>[A-Za-z_]\w*) | (?P<punct>[|(),])
)''', re.X)
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


class TemplateError(Exception):
    """A template docker would reject (bad syntax, unknown function)."""


# -- printing values as Go's fmt %v does ---------------------------------
def go_str(value: Any) -> str:
    if value is None or value is MISSING:
        return "<no value>" if value is MISSING else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    return value not in (None, MISSING, False, 0, "") and not (
        isinstance(value, (list, dict, tuple)) and not value)


def _printf(fmt: str, *args: Any) -> str:
    """Go's printf for the verbs templates use: %s %v %d %q %f %x %%, with widths."""
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        flags, verb = match.group(1), match.group(2)
        if verb == "%":
            return "%"
        value = next(values, MISSING)
        if verb in "sv":
            return f"%{flags}s" % go_str(value)
        if verb == "q":
            return f"%{flags}s" % _json(go_str(value))
        return f"%{flags}{verb}" % value
    return re.sub(r"%([-+ #0]*\d*(?:\.\d+)?)([svdqfxXeg%])", one, fmt)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return MISSING if isinstance(value, dict) else None
    return value


def _json(value: Any) -> str:
    import json
    return json.dumps(None if value is MISSING else row_data(value), separators=(",", ":"),
                      ensure_ascii=False)


def _truncate(text: Any, length: int) -> str:
    text = go_str(text)
    return text[:length] if len(text) > length else text


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "join": lambda items, sep: sep.join(go_str(i) for i in (items or [])),
    "split": lambda text, sep: go_str(text).split(sep),
    "upper": lambda text: go_str(text).upper(),
    "lower": lambda text: go_str(text).lower(),
    "title": lambda text: go_str(text).title(),
    "pad": lambda text, left, right: " " * left + go_str(text) + " " * right,
    "truncate": _truncate,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "print": lambda *a: "".join(go_str(x) for x in a),
    "printf": _printf,
    "index": _index,
    "len": lambda x: len(x),
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda a: not _truthy(a),
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1]),
}


# -- parsing ---------------------------------------------------------------
def _lex(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"template: unexpected {text[pos:].strip()!r} in command")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _parse_pipeline(tokens: list[tuple[str, str]]) -> tuple[list[str], list[list[Any]]]:
    """(declared variables, commands); each command a list of argument nodes."""
    names: list[str] = []
    decl = next((i for i, t in enumerate(tokens) if t[0] == "decl"), None)
    if decl is not None:
        names = [v for kind, v in tokens[:decl] if kind == "var"]
        tokens = tokens[decl + 1:]
    commands: list[list[Any]] = [[]]
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "punct" and value == "|":
            commands.append([])
        elif kind == "punct" and value == "(":
            depth, j = 1, i + 1
            while depth:
                if j >= len(tokens):
                    raise TemplateError("template: unclosed left paren")
                depth += {"(": 1, ")": -1}.get(tokens[j][1], 0) if tokens[j][0] == "punct" else 0
                j += 1
            commands[-1].append(("pipe", _parse_pipeline(tokens[i + 1:j - 1])))
            i = j
            continue
        elif kind == "str":
            import json
            commands[-1].append(("lit", json.loads(value)))
        elif kind == "raw":
            commands[-1].append(("lit", value[1:-1]))
        elif kind == "num":
            commands[-1].append(("lit", float(value) if "." in value else int(value)))
        elif kind == "ident" and value in ("true", "false", "nil"):
            commands[-1].append(("lit", {"true": True, "false": False, "nil": None}[value]))
        elif kind == "ident":
            if value not in FUNCS:
                raise TemplateError(f'template: function "{value}" not defined')
            commands[-1].append(("func", value))
        elif kind in ("field", "var"):
            commands[-1].append((kind, value))
        elif kind == "chain":  # (pipeline).Field
            commands[-1][-1] = ("chain", (commands[-1][-1], value))
        elif kind != "punct" or value != ",":
            raise TemplateError(f"template: unexpected {value!r}")
        i += 1
    if any(not c for c in commands):
        raise TemplateError("template: missing value for command")
    return names, commands


def _parse(text: str) -> list[Any]:
    """The template's node tree: text, action, if, range, with."""
    pieces: list[tuple[str, Any]] = []
    pos = 0
    for match in _ACTION.finditer(text):
        literal = text[pos:match.start()]
        if match.group(1):
            literal = literal.rstrip()
        if pieces and pieces[-1][0] == "trim":
            pieces.pop()
            literal = literal.lstrip()
        pieces.append(("text", literal))
        pieces.append(("action", match.group(2).strip()))
        if match.group(3):
            pieces.append(("trim", None))
        pos = match.end()
    rest = text[pos:]
    if pieces and pieces[-1][0] == "trim":
        pieces.pop()
        rest = rest.lstrip()
    pieces.append(("text", rest))
    nodes, end = _parse_block(pieces, 0, top=True)
    return nodes


def _parse_block(pieces: list[tuple[str, Any]], i: int, top: bool = False) -> tuple[list[Any], int]:
    """Nodes until {{end}}/{{else}} (returned at index i pointing at it) or the end."""
    nodes: list[Any] = []
    while i < len(pieces):
        kind, value = pieces[i]
        if kind == "text":
            if value:
                nodes.append(("text", value))
            i += 1
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("end", "else"):
            if top:
                raise TemplateError(f"template: unexpected {{{{{word}}}}}")
            return nodes, i
        if word in ("if", "range", "with"):
            node, i = _parse_control(word, value[len(word):], pieces, i + 1)
            nodes.append(node)
            continue
        if value.startswith("/*"):
            i += 1
            continue
        nodes.append(("action", _parse_pipeline(_lex(value))))
        i += 1
    if not top:
        raise TemplateError("template: unexpected EOF")
    return nodes, i


def _parse_control(word: str, rest: str, pieces: list[tuple[str, Any]], i: int) -> tuple[Any, int]:
    pipe = _parse_pipeline(_lex(rest))
    body, i = _parse_block(pieces, i)
    other: list[Any] = []
    closing = pieces[i][1]
    if closing.startswith("else"):
        tail = closing[4:].strip()
        if tail.startswith("if"):  # {{else if x}} nests an if that shares our {{end}}
            node, i = _parse_control("if", tail[2:], pieces, i + 1)
            return (word, pipe, body, [node]), i
        other, i = _parse_block(pieces, i + 1)
    return (word, pipe, body, other), i + 1


# -- evaluating ------------------------------------------------------------
class Template:
    """A parsed template; ``render(data)`` gives its text for one value."""

    def __init__(self, text: str) -> None:
        self.nodes = _parse(text)

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._run(self.nodes, data, {"$": data}, out)
        return "".join(out)

    def _run(self, nodes: list[Any], dot: Any, scope: dict[str, Any], out: list[str]) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                value = self._pipe(node[1], dot, scope)
                if not node[1][0]:
                    out.append(go_str(value))
            elif kind == "if":
                self._run(node[2] if _truthy(self._pipe(node[1], dot, scope)) else node[3], dot, scope, out)
            elif kind == "with":
                value = self._pipe(node[1], dot, scope)
                self._run(node[2], value, scope, out) if _truthy(value) else self._run(node[3], dot, scope, out)
            else:
                self._range(node, dot, scope, out)

    def _range(self, node: Any, dot: Any, scope: dict[str, Any], out: list[str]) -> None:
        names, _ = node[1]
        value = self._pipe((None, node[1][1]), dot, scope)
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, dict):
            items = sorted(value.items())
        else:
            items = enumerate(value or [])
        ran = False
        for key, item in items:
            ran = True
            inner = dict(scope)
            if len(names) == 1:
                inner[names[0]] = item
            elif len(names) == 2:
                inner[names[0]], inner[names[1]] = key, item
            self._run(node[2], item, inner, out)
        if not ran:
            self._run(node[3], dot, scope, out)

    def _pipe(self, pipe: Any, dot: Any, scope: dict[str, Any]) -> Any:
        names, commands = pipe
        value: Any = MISSING
        for i, command in enumerate(commands):
            value = self._command(command, dot, scope, [] if i == 0 else [value])
        if names:
            scope[names[0]] = value
        return value

    def _command(self, command: list[Any], dot: Any, scope: dict[str, Any], piped: list[Any]) -> Any:
        head, args = command[0], [self._arg(a, dot, scope) for a in command[1:]] + piped
        if head[0] == "func":
            try:
                return FUNCS[head[1]](*args)
            except TypeError as err:
                raise TemplateError(f"template: error calling {head[1]}: {err}") from None
        value = self._arg(head, dot, scope, call=False)
        if callable(value):
            return value(*args)
        if args:
            raise TemplateError(f"template: can't give argument to non-function {head[1]}")
        return value

    def _arg(self, node: Any, dot: Any, scope: dict[str, Any], call: bool = True) -> Any:
        kind, value = node
        if kind == "lit":
            return value
        if kind == "pipe":
            return self._pipe(value, dot, scope)
        if kind == "func":
            return FUNCS[value]() if call else FUNCS[value]
        if kind == "chain":
            base, path = value
            return _walk(self._arg(base, dot, scope), [p for p in path.split(".") if p], call)
        if kind == "var":
            name, _, path = value.partition(".")
            if name not in scope:
                raise TemplateError(f'template: undefined variable "{name}"')
            return _walk(scope[name], path.split(".") if path else [], call)
        return _walk(dot, [p for p in value.split(".") if p], call)


def _walk(value: Any, names: list[str], call: bool) -> Any:
    for index, name in enumerate(names):
        if callable(value):
            value = value()
        if isinstance(value, dict):
            value = value.get(name, MISSING)
        elif value is None or value is MISSING:
            return MISSING
        else:
            value = getattr(value, name, MISSING)
        if call and callable(value) and index == len(names) - 1:
            value = value()
    return value


# -- docker's output modes ---------------------------------------------------
def tabulate(lines: list[str], minwidth: int = 10, padding: int = 3) -> str:
    """Go's tabwriter as docker configures it: cells padded to max(width+3, 10)."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for col, cell in enumerate(row[:-1]):
            widths[col] = max(widths.get(col, 0), len(cell))
    out = []
    for row in rows:
        cells = [cell.ljust(max(widths[c] + padding, minwidth)) for c, cell in enumerate(row[:-1])]
        out.append("".join(cells) + row[-1])
    return "".join(line + "\n" for line in out)


def expand_escapes(text: str) -> str:
    """Docker turns a typed ``\\t`` / ``\\n`` into tab / newline before parsing."""
    return text.replace("\\t", "\t").replace("\\n", "\n")


def render_rows(fmt: str, rows: list[Any], headers: dict[str, str], default: str) -> str:
    """Format list output (ps, images, stats): ``table``, ``table TEMPLATE``, ``json`` or a template.

    ``headers`` maps a field to its column title (``ID`` → ``CONTAINER ID``);
    ``default`` is the ``table`` template used when ``fmt`` is empty.
    """
    fmt = fmt or "table"
    if fmt == "json":
        return "".join(_json(row_data(row)) + "\n" for row in rows)
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table"):].strip() or default
    template = Template(expand_escapes(fmt))
    lines = [template.render(row) for row in rows]
    if not table:
        return "".join(line + "\n" for line in lines)
    header = Template(expand_escapes(fmt)).render(_Headers(headers))
    return tabulate([header] + lines)


def row_data(row: Any) -> Any:
    """A row as plain JSON data (callables evaluated) for ``--format json``."""
    if isinstance(row, dict):
        return {k: v() if callable(v) else v for k, v in row.items() if not _takes_args(v)}
    return row


def _takes_args(value: Any) -> bool:
    return callable(value) and getattr(value, "needs_args", False)


class _Headers(dict):  # type: ignore[type-arg]
    """The data a table's header row is rendered from: every field is its title."""

    def get(self, key: Any, default: Any = None) -> Any:
        title = super().get(key) or key.upper()
        return lambda *args: title


def render_each(fmt: str, items: Iterable[Any]) -> str:
    """``inspect -f``/``version -f``/``events --format``: the template once per item, a line each."""
    if fmt == "json":
        return "".join(_json(item) + "\n" for item in items)
    template = Template(expand_escapes(fmt))
    return "".join(template.render(item) + "\n" for item in items)
