"""Loading a config: YAML files (with ``extends:``), ``key.sub=value`` overrides, type checks.

Precedence: dataclass defaults < YAML file (which may ``extends:`` another YAML,
resolved relative to itself) < command-line overrides ``key.sub=value``.

Every problem found (unknown key, wrong type, a value its section refuses, an
impossible combination) is collected and raised once as a
:class:`~t2s.errors.ConfigError` whose message names the file (or "command
line") and the key, and suggests the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from t2s.config.schema import Config, ConfigCheck, Problems, config_problems, exec_metric_for
from t2s.errors import ConfigError

# Why 32 levels: the deepest key of the schema has 5 (data.sources.<i>.columns.question),
# so 32 is far beyond any real config. A deeper value is refused before anything walks it:
# PyYAML composes nested values recursively (a few frames per level), so a file or an
# override of 100,000 '[' would otherwise end in RecursionError.
MAX_DEPTH = 32

# Why 100,000 values: the largest shipped config holds under 200 and a 1,000-entry
# data.sources list ~10,000. YAML aliases (`*a`) are counted once per use, as they are
# walked, so a file of nested aliases ("billion laughs") is refused after 100k steps.
MAX_VALUES = 100_000


@dataclass
class _Problems:
    """Collects every problem so the user sees them all in one message."""

    items: list[str] = field(default_factory=list)

    def add(self, source: str, key: str, message: str) -> None:
        if _LITERAL_PASSWORD.search(message):
            # A type error quotes the value; this one holds a password.
            message = message.split(", got ")[0] + " (the value is not shown: it holds a password)"
        self.items.append(f"{source}: {key}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            count = len(self.items)
            header = f"{count} configuration problem{'s' if count > 1 else ''}:"
            raise ConfigError("\n  ".join([header, *self.items]))


class _Loader(yaml.SafeLoader):
    """YAML as people write configs: ``1e-4`` is a float, a repeated key is an error.

    PyYAML follows YAML 1.1, where a float needs a dot (``1e-4`` is a string);
    YAML 1.2 and every fine-tuning recipe read it as 0.0001. A repeated key in
    one mapping silently keeps the last value in PyYAML; here it is refused.
    It is still a *safe* loader: no Python object can be constructed.
    """

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# YAML 1.2's float: digits with an exponent and no dot (1e-4, 5E-5) join 1.1's forms.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _load_yaml(text: str, where: str) -> Any:
    """Parse ``text`` with :class:`_Loader`, refusing values deeper or larger than a config.

    Raises:
        yaml.YAMLError: if it is not valid YAML.
        ConfigError: if it nests deeper than :data:`MAX_DEPTH` or holds more
            than :data:`MAX_VALUES` values (named with ``where``).
    """
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except RecursionError:
        raise ConfigError(f"{where}: nested deeper than {MAX_DEPTH} levels "
                          "(a t2s config has at most 5)") from None
    _check_size(data, where)
    return data


def _check_size(data: Any, where: str) -> None:
    """Walk ``data`` without recursion; refuse it past :data:`MAX_DEPTH` or :data:`MAX_VALUES`.

    Raises:
        ConfigError: naming ``where`` and the limit.
    """
    stack, seen = [(data, 1)], 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested deeper than {MAX_DEPTH} levels "
                              "(a t2s config has at most 5)")
        if seen > MAX_VALUES:
            raise ConfigError(f"{where}: more than {MAX_VALUES:,} values (each use of "
                              "a YAML alias counts)")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)


def read_yaml(path: str | Path, sources: dict[str, str] | None = None,
              _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config, resolving ``extends:`` (a path relative to the file).

    Args:
        path: The YAML file.
        sources: If given, filled with ``dotted.key -> file`` for every key, the
            file that set it last (so messages name the right file).

    Raises:
        ConfigError: if the file is missing, not UTF-8, not a mapping, not
            valid YAML, nested too deep or too large, or the ``extends`` chain
            is circular.
    """
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        raise ConfigError(f"{path}: circular 'extends' chain")
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; give a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        # A SafeLoader: a config must never be able to construct Python objects.
        data = _load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte {exc.object[exc.start]:#x})") \
            from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    parent = data.pop("extends", None)
    base = {} if parent is None else read_yaml(path.parent / str(parent), sources,
                                                (*_seen, resolved))
    if sources is not None:
        _record_sources(data, str(path), sources, [])
    return _deep_merge(base, data)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``key.sub=value`` into a key path and a YAML-typed value.

    Raises:
        ConfigError: if there is no ``=``, the key is empty, or the value is
            nested too deep or too large.
    """
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        shown = "(not shown: it holds a password)" if _LITERAL_PASSWORD.search(text) else repr(text)
        raise ConfigError(f"command line: override {shown} is not of the form key.sub=value")
    try:
        value = _load_yaml(raw, f"command line: {key.strip()}") if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return [p.strip() for p in parts], value


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> list[str]:
    """Set ``value`` at ``path``; returns the dotted prefixes whose value it replaced."""
    node = tree
    replaced = []
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            if child is not None:  # `lora.r.x=5` over `lora.r: 8`: the command line's doing
                replaced.append(".".join(path[:depth + 1]))
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
    return replaced


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                checks: Sequence[ConfigCheck] = ()) -> Config:
    """Build a :class:`Config` from defaults, an optional YAML file and overrides.

    Args:
        path: YAML file, or None for defaults only.
        overrides: ``key.sub=value`` strings, applied after the file.
        checks: extra checks run on the built config (``t2s train`` adds the
            hardware and model checks), so one message lists every problem.

    Raises:
        ConfigError: listing every unknown key, wrong type, value its section
            refuses (NaN and infinity included) and invalid combination found,
            each with its source and key; or a file or override nested too
            deep or too large.
    """
    return load_config_with_sources(path, overrides, checks)[0]


def load_config_with_sources(path: str | Path | None = None,
                             overrides: list[str] | tuple[str, ...] = (),
                             checks: Sequence[ConfigCheck] = ()) -> tuple[Config, dict[str, str]]:
    """:func:`load_config`, and where each key set was set: ``dotted.key -> file or "command line"``.

    Keys absent from the mapping have their default.

    Raises:
        ConfigError: as :func:`load_config`.
    """
    problems = _Problems()
    sources: dict[str, str] = {}
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_yaml(path, sources)
    for text in overrides:
        try:
            keys, value = parse_override(text)
        except ConfigError as exc:  # reported with every other problem
            problems.items.append(str(exc))
            continue
        for prefix in _set_path(tree, keys, value):
            sources[prefix] = "command line"
        sources[".".join(keys)] = "command line"
    config = _build(Config, tree, [], sources, problems, str(path) if path else "defaults")
    # Fields that failed their type check kept their defaults, so the
    # sections' own checks still run and the user sees every problem at once.
    found = config_problems(config, sources)
    found += _non_finite(config, {key for key, _ in found})
    for key, message in found:
        problems.add(sources.get(key, "config"), key, message)
    reported = {key for key, _ in found}
    for key, message in _literal_passwords(config):
        if key in reported:  # a section's own check said so (data.databases)
            continue
        # "serve.databases.0" was set with "serve.databases": name the file that set it.
        parts = key.split(".")
        setters = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
        problems.add(next((sources[k] for k in setters if k in sources), "config"), key, message)
    for check in checks:
        for key, message in check(config):
            problems.add(_source_of(key, sources, "config"), key, message)
    problems.raise_if_any()
    return resolve_exec_metric(config), sources


def resolve_exec_metric(config: Config) -> Config:
    """``config`` with ``eval.exec_metric: auto`` resolved by data source, so no library
    sees ``auto``: ``bird`` for BIRD data (one BIRD source, or a mixture whose
    evaluation sources are all BIRD), else ``spider``."""
    if config.eval.exec_metric != "auto":
        return config
    return dataclasses.replace(config, eval=dataclasses.replace(
        config.eval, exec_metric=exec_metric_for(config)))


def _non_finite(config: Any, reported: set[str], prefix: str = "") -> Problems:
    """A NaN or infinite number under a key that no section check has reported.

    YAML reads ``.nan`` and ``.inf`` as floats; no field of t2s means either
    (a limit of ``.inf`` would switch a guard off), so every float field is
    finite, also where its section checks no range.
    """
    problems: Problems = []
    for f in dataclasses.fields(config):
        value, dotted = getattr(config, f.name), f"{prefix}{f.name}"
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            key = dotted if index is None else f"{dotted}.{index}"
            if dataclasses.is_dataclass(item):
                problems += _non_finite(item, reported, key + ".")
            elif isinstance(item, float) and not math.isfinite(item) and key not in reported:
                problems.append((key, f"must be a finite number, got {item}"))
    return problems


# A password inside a connection string: a URI's ``user:PASSWORD@`` or a
# ``password=`` parameter (URI query or libpq ``key=value`` form).
_LITERAL_PASSWORD = re.compile(r"://[^/@\s?#]*:[^/@\s]*@|(?:^|[?&\s])password\s*=", re.IGNORECASE)

LITERAL_PASSWORD_MESSAGE = (
    "holds a password written into a connection string; a config is copied into run folders "
    "and reports, so it may not: drop it from the DSN and give it to libpq as PGPASSWORD or "
    "in ~/.pgpass (or the file PGPASSFILE names), which PostgreSQL clients read themselves "
    "(README \"Serving a PostgreSQL database\")")


def _literal_passwords(config: Any, prefix: str = "") -> Problems:
    """Every string of ``config`` (lists and mappings included) that holds a DSN password.

    The value is never repeated in the message: it is the secret.
    """
    problems: Problems = []
    for f in dataclasses.fields(config):
        value, dotted = getattr(config, f.name), f"{prefix}{f.name}"
        if isinstance(value, dict):
            items = [(f"{dotted}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{dotted}.{i}", v) for i, v in enumerate(value)]
        else:
            items = [(dotted, value)]
        for key, item in items:
            if dataclasses.is_dataclass(item):
                problems += _literal_passwords(item, key + ".")
            elif isinstance(item, str) and _LITERAL_PASSWORD.search(item):
                problems.append((key, LITERAL_PASSWORD_MESSAGE))
    return problems


def _record_sources(tree: dict[str, Any], source: str, sources: dict[str, str], prefix: list[str]) -> None:
    for key, value in tree.items():
        dotted = ".".join([*prefix, str(key)])
        sources[dotted] = source
        if isinstance(value, dict):
            _record_sources(value, source, sources, [*prefix, str(key)])


def _source_of(dotted: str, sources: dict[str, str], fallback: str) -> str:
    return sources.get(dotted, fallback)


def _build(cls: type, tree: Any, prefix: list[str], sources: dict[str, str],
           problems: _Problems, fallback: str) -> Any:
    """Turn a mapping into dataclass ``cls``, recording problems instead of raising."""
    dotted_prefix = ".".join(prefix)
    if not isinstance(tree, dict):
        problems.add(_source_of(dotted_prefix, sources, fallback), dotted_prefix,
                     f"expected a mapping of {cls.__name__} fields, got {tree!r}")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = ".".join([*prefix, str(key)])
        source = _source_of(dotted, sources, fallback)
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean '{'.'.join([*prefix, near[0]])}'?" if near else ""
            valid = ", ".join(fields)
            problems.add(source, dotted, f"unknown key{hint} (valid keys here: {valid})")
            continue
        hint_type = hints[key]
        if dataclasses.is_dataclass(hint_type):
            kwargs[key] = _build(hint_type, value, [*prefix, key], sources, problems, fallback)
            continue
        nested = _nested_dataclass(hint_type)
        if nested is not None and value is not None:
            if typing.get_origin(hint_type) is not list:
                kwargs[key] = _build(nested, value, [*prefix, key], sources, problems, fallback)
            elif not isinstance(value, list):
                problems.add(source, dotted, f"expected a list of {nested.__name__}, got {value!r}")
            else:
                kwargs[key] = [_build(nested, item, [*prefix, key, str(i)], sources, problems,
                                      source) for i, item in enumerate(value)]
            continue
        error = _type_error(value, hint_type)
        if error:
            problems.add(source, dotted, error)
            continue
        kwargs[key] = _coerce(value, hint_type)
    return cls(**kwargs)


def _nested_dataclass(hint: Any) -> type | None:
    """The dataclass inside ``list[D]`` or ``D | None``, or None."""
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _type_error(value: Any, hint: Any) -> str | None:
    """Describe why ``value`` does not fit type ``hint``, or None if it does."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return None if value in args else f"must be one of {', '.join(map(repr, args))}, got {value!r}"
    if origin in (typing.Union, types.UnionType):
        errors = [_type_error(value, arg) for arg in args]
        if any(e is None for e in errors):
            return None
        return next(e for e in errors if e)
    if hint is type(None):
        return None if value is None else f"expected null, got {value!r}"
    if origin is dict:
        if not isinstance(value, dict):
            return f"expected a mapping, got {value!r}"
        for key, item in value.items():
            error = (_type_error(key, args[0]) or _type_error(item, args[1])) if args else None
            if error:
                return f"entry {key!r}: {error}"
        return None
    if origin is list:
        if not isinstance(value, list):
            return f"expected a list, got {value!r}"
        for item in value:
            error = _type_error(item, args[0]) if args else None
            if error:
                return f"list item: {error}"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else f"expected true/false, got {value!r}"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an integer, got {value!r}"
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if hint is str:
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    return None


def _coerce(value: Any, hint: Any) -> Any:
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """The config (or one section) as plain data, for YAML/JSON dumps."""
    return dataclasses.asdict(config)


def get_value(tree: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """The value at ``dotted`` in a plain config tree, or ``default`` when absent."""
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def with_values(config: Config, values: dict[str, Any], source: str) -> Config:
    """A copy of ``config`` with ``dotted.key -> plain value`` set, validated like a file.

    Raises:
        ConfigError: if a value does not fit its key (named with ``source``).
    """
    tree = to_dict(config)
    for dotted, value in values.items():
        _set_path(tree, dotted.split("."), value)
    problems = _Problems()
    rebuilt = _build(Config, tree, [], {k: source for k in values}, problems, source)
    problems.raise_if_any()
    return rebuilt


def dump_yaml(config: Config, path: str | Path) -> None:
    """Write the resolved config to ``path`` as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


