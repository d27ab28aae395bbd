"""The schema, described (``t2s config keys``): generated from the dataclasses, so it never drifts.

Each key's type and default come from its field; its text is the docstring
written under the field in the section's module.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from t2s.config.schema import Config


@dataclass(frozen=True)
class KeyInfo:
    """One configuration key: its dotted name, type, default and docstring."""

    key: str
    type: str
    default: Any
    doc: str


def describe_keys() -> list[KeyInfo]:
    """Every leaf key of :class:`Config`, in schema order, with its field docstring."""
    docs = _field_docstrings()
    keys: list[KeyInfo] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            dotted = f"{prefix}{f.name}"
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], dotted + ".")
                continue
            keys.append(KeyInfo(dotted, _type_name(hints[f.name]), getattr(defaults, f.name),
                                docs.get((cls.__name__, f.name), "")))

    walk(Config, "")
    return keys


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin is dict:
        return f"dict[{_type_name(args[0])}, {_type_name(args[1])}]" if args else "dict"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _section_modules(cls: type = Config) -> set[str]:
    """Names of the modules that define ``cls`` and every section below it."""
    modules = {cls.__module__}
    for hint in typing.get_type_hints(cls).values():
        for candidate in (hint, *typing.get_args(hint)):
            if dataclasses.is_dataclass(candidate):
                modules |= _section_modules(candidate)
    return modules


def _field_docstrings() -> dict[tuple[str, str], str]:
    """``(class, field) -> docstring`` from the sections' source: the string after each field."""
    docs: dict[tuple[str, str], str] = {}
    for module in sorted(_section_modules()):
        docs.update(_module_docstrings(Path(sys.modules[module].__file__).read_text(encoding="utf-8")))
    return docs


def _module_docstrings(source: str) -> dict[tuple[str, str], str]:
    """``(class, field) -> docstring`` of one module's source."""
    docs: dict[tuple[str, str], str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        body = node.body
        for current, following in zip(body, body[1:], strict=False):
            if (isinstance(current, ast.AnnAssign) and isinstance(current.target, ast.Name)
                    and isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[(node.name, current.target.id)] = " ".join(following.value.value.split())
    return docs
