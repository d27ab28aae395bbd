"""``t2s config``: the resolved configuration and every key of the schema.

``t2s config show [--config C] [key=value ...]`` prints the config a command
would run with, as YAML, each value annotated with where it came from
(default, the file that set it, or the command line). ``t2s config keys`` lists
every key with its type, default and docstring, generated from
:mod:`t2s.config`, so this reference cannot drift from the code.
"""

from __future__ import annotations

import argparse

import yaml

from t2s.cli_args import add_config_arguments, config_path
from t2s.config import describe_keys, load_config_with_sources, to_dict

EXAMPLES = """\
examples:
  t2s config show                                  # configs/tiny.yaml, resolved
  t2s config show --config configs/config.yaml train.learning_rate=1e-4
  t2s config keys                                  # every key: type, default, meaning
  t2s config keys train.                           # keys starting with train.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``show`` and ``keys`` sub-commands."""
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the resolved config with each value's source")
    add_config_arguments(show)
    keys = actions.add_parser("keys", help="list every key with its type, default and docstring")
    keys.add_argument("prefix", nargs="?", default="", help="only keys starting with this")


def run(args: argparse.Namespace) -> int:
    """Print the requested view; returns 0.

    Raises:
        ConfigError: if the config does not load (``show``).
    """
    if args.action == "keys":
        print(format_keys(args.prefix))
        return 0
    source = config_path(args.config)
    config, sources = load_config_with_sources(source, args.overrides)
    print(format_resolved(to_dict(config), sources, source))
    return 0


def format_resolved(tree: dict, sources: dict[str, str], path: str | None) -> str:
    """YAML of ``tree`` with ``# default`` / ``# <file>`` / ``# command line`` on every leaf."""
    header = f"# resolved from {path or 'defaults only'}; every value's source on its line\n"
    lines: list[str] = []

    def emit(node: dict, prefix: str, indent: int) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            pad = "  " * indent
            if isinstance(value, dict) and value:  # an empty mapping (data.databases) is a leaf: {}
                lines.append(f"{pad}{key}:")
                emit(value, dotted + ".", indent + 1)
                continue
            text = yaml.safe_dump({key: value}, default_flow_style=True, width=10_000)
            text = text.strip()[1:-1]  # "{key: value}" -> "key: value"
            lines.append(f"{pad}{text}  # {sources.get(dotted, 'default')}")

    emit(tree, "", 0)
    return header + "\n".join(lines)


def format_keys(prefix: str = "") -> str:
    """One block per key: ``key (type) = default`` and its docstring."""
    blocks = []
    for info in describe_keys():
        if not info.key.startswith(prefix):
            continue
        default = yaml.safe_dump(info.default, default_flow_style=True).strip()
        default = default.removesuffix("\n...").removesuffix("...").strip()
        line = f"{info.key} ({info.type}) = {default}"
        blocks.append(line + (f"\n    {info.doc}" if info.doc else ""))
    return "\n".join(blocks)
