"""The walls of the house, checked: which module may import which.

Every import of ``src/t2s`` is read with :mod:`ast`, including the ones inside
functions, and each rule below is asserted; a breach is reported with its file
and line. ``test_a_breach_is_caught`` introduces breaches into a copy of the
package and checks that the rules see them, so the rules cannot rot into
always-passing.

The rules (README "Layout" says the same in prose):

- ``config/`` imports nothing from t2s but ``errors`` (its ``command.py`` aside);
  its sections (every module but the loader, the key listing and the command)
  are plain dataclasses: no YAML, no loader, no ``t2s.config`` package import.
- ``cli.py`` and every sub-command's ``--help`` path import no ML library.
- Nothing imports ``cli``: sub-commands take their helpers from ``cli_args``
  (the loop cli -> command -> cli is gone).
- ``data/`` imports no model, training, inference, evaluation, launch or serve code.
- ``sqlexec.py`` is the only module that opens a database given by a user or a
  dataset (``sqlite3.connect``); the sample generator, which writes its own new
  databases, is the one exception. Likewise ``db/postgres.py`` is the only module
  that imports psycopg (connects to a PostgreSQL server).
- ``evaluation/`` reaches ``inference/`` only from ``evaluation/model.py`` and
  its command (the "score a model" path), and scoring prediction files loads no ML library.
- ``inference/`` and ``models/`` never import ``training/``.
- ``launch/`` imports config and launches commands: no stage modules.
- ``serve/`` imports only inference, sqlexec, config, data and small helpers
  (and ``launch/engine.py``, the vLLM command it starts for ``--engine auto``);
  nothing imports ``serve/``.
- ``training/train.py`` is imported only by ``training/command.py`` (and ``jobs/``).
- A function-local import is for a heavy library (or a t2s module that loads
  one) only: everything else goes at the top of its file, where a reader looks.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "t2s"

# Third-party libraries cheap enough to import at the top of any module.
LIGHT_THIRD_PARTY = frozenset({"yaml", "filelock"})
# What `--help` and prediction-file scoring must never load.
ML_LIBRARIES = frozenset({"torch", "transformers", "trl", "peft", "datasets", "accelerate",
                          "deepspeed", "vllm", "bitsandbytes"})


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it is, and whether it runs at import time."""

    module: str       # importing module, e.g. t2s.inference.pipeline
    where: str        # src/t2s/inference/pipeline.py:42
    line: int
    target: str       # imported module, e.g. t2s.training.train or torch.nn
    top_level: bool   # False: inside a function (runs only when called)

    @property
    def root(self) -> str:
        return self.target.split(".")[0]


class Package:
    """The import graph of a t2s source tree (``<root>/src/t2s``)."""

    def __init__(self, package_dir: Path) -> None:
        self.dir = package_dir
        self.modules: dict[str, Path] = {}
        for path in sorted(package_dir.rglob("*.py")):
            parts = path.relative_to(package_dir.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            self.modules[name] = path
        # One entry per (statement, target): `from x import a, b` is one import of x.
        self.imports: list[Import] = list(dict.fromkeys(
            i for name, path in self.modules.items() for i in self._read(name, path)))
        self.trees = {name: ast.parse(path.read_text(encoding="utf-8"))
                      for name, path in self.modules.items()}

    def _read(self, module: str, path: Path) -> Iterator[Import]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        where = str(path.relative_to(self.dir.parents[1]))
        for node, top in _walk(tree, top=True):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, f"{where}:{node.lineno}", node.lineno, alias.name, top)
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(module, is_package, node.module, node.level)
                if base == "__future__":
                    continue
                for alias in node.names:
                    # `from t2s.data import sample` imports the module t2s.data.sample.
                    candidate = f"{base}.{alias.name}"
                    target = candidate if candidate in self.modules else base
                    yield Import(module, f"{where}:{node.lineno}", node.lineno, target, top)

    @staticmethod
    def _absolute(module: str, is_package: bool, name: str | None, level: int) -> str:
        if level == 0:
            return name or ""
        parts = module.split(".")
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (level - 1)]
        return ".".join([*parts, name] if name else parts)

    def owner(self, target: str) -> str | None:
        """The t2s module an import target names (``t2s.x.y`` or its nearest parent)."""
        while target:
            if target in self.modules:
                return target
            target = target.rpartition(".")[0]
        return None

    def top_level_closure(self, start: str) -> set[str]:
        """Every module (t2s and third-party roots) loaded by importing ``start``."""
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            # Importing a.b.c runs a/__init__ and a/b/__init__ first.
            parent = name.rpartition(".")[0]
            if parent in self.modules:
                todo.append(parent)
            for imp in self.imports:
                if imp.module == name and imp.top_level:
                    owner = self.owner(imp.target)
                    todo.append(owner if owner else imp.root)
        return seen

    def is_heavy(self, target: str) -> bool:
        """Whether importing ``target`` loads a heavy third-party library."""
        owner = self.owner(target)
        names = self.top_level_closure(owner) if owner else {target.split(".")[0]}
        return any(_is_third_party(n) and n not in LIGHT_THIRD_PARTY for n in names)

    def imports_of(self, prefix: str) -> Iterator[Import]:
        """Imports made by ``prefix`` or modules below it."""
        return (i for i in self.imports if _within(i.module, prefix))


def _walk(node: ast.AST, top: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, top
        inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _walk(child, inner)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _is_third_party(name: str) -> bool:
    root = name.split(".")[0]
    return root != "t2s" and root not in sys.stdlib_module_names


def _commands(package: Package) -> list[str]:
    """Sub-command modules named in cli_args.COMMANDS (read from the source, not imported)."""
    for node in ast.walk(package.trees["t2s.cli_args"]):
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if getattr(target, "id", None) == "COMMANDS":
                return [ast.literal_eval(v)[0] for v in node.value.values]
    raise AssertionError("cli_args.COMMANDS not found")


def breaches(package: Package) -> list[str]:
    """Every breach of the rules in ``package``, as ``file:line: rule`` lines."""
    found: list[str] = []

    def breach(imp: Import, rule: str) -> None:
        found.append(f"{imp.where}: imports {imp.target}: {rule}")

    for imp in package.imports_of("t2s.config"):
        if imp.module == "t2s.config.command":
            continue
        if imp.root == "t2s" and not (imp.target == "t2s.errors" or _within(imp.target, "t2s.config")):
            breach(imp, "config/ imports nothing from t2s but errors")

    # The package face, the loader, the key listing and the command may read YAML
    # and every section; a section module may import other sections only.
    config_readers = ("t2s.config", "t2s.config.loader", "t2s.config.keys", "t2s.config.command")
    for imp in package.imports_of("t2s.config"):
        if imp.module in config_readers:
            continue
        if imp.root == "yaml" or imp.target in config_readers:
            breach(imp, "config/'s sections import no YAML, loader or key listing")

    forbidden_for_data = ("t2s.models.loading", "t2s.models.tiny", "t2s.training.train", "t2s.training.command",
                          "t2s.inference", "t2s.evaluation", "t2s.launch", "t2s.serve")
    for imp in package.imports_of("t2s.data"):
        if any(_within(imp.target, f) for f in forbidden_for_data):
            breach(imp, "data/ imports no model, training, inference, evaluation, launch or serve code")

    for imp in package.imports_of("t2s.evaluation"):
        if _within(imp.target, "t2s.inference") and imp.module not in (
                "t2s.evaluation.model", "t2s.evaluation.command"):
            breach(imp, "only evaluation/model.py and its command (scoring a model) "
                        "call inference/")

    for stage in ("t2s.inference", "t2s.models"):
        for imp in package.imports_of(stage):
            if _within(imp.target, "t2s.training"):
                breach(imp, "inference/ and models/ never import training/")

    for imp in package.imports:
        if imp.target == "t2s.cli" and imp.module != "t2s.cli":
            breach(imp, "nothing imports cli: take argparse helpers from cli_args")

    launch_may_use = ("t2s.config", "t2s.errors", "t2s.provenance", "t2s.cli_args",
                      "t2s.launch")
    for imp in package.imports_of("t2s.launch"):
        allowed = imp.target == "t2s" or any(_within(imp.target, a) for a in launch_may_use)
        if imp.root == "t2s" and not allowed:
            breach(imp, "launch/ imports config and launches commands, no stage modules")

    serve_may_use = ("t2s.inference", "t2s.sqlexec", "t2s.config", "t2s.data", "t2s.errors",
                     "t2s.provenance", "t2s.cli_args", "t2s.serve", "t2s.monitor",
                     "t2s.launch.engine")
    for imp in package.imports:
        in_serve = _within(imp.module, "t2s.serve")
        if in_serve and imp.root == "t2s" and not any(_within(imp.target, a) for a in serve_may_use):
            breach(imp, "serve/ imports only inference, sqlexec, config, data and helpers")
        if not in_serve and _within(imp.target, "t2s.serve"):
            breach(imp, "nothing imports serve/")
        if imp.target == "t2s.training.train" and imp.module != "t2s.training.command":
            breach(imp, "training/train.py is imported only by training/command.py (and jobs/)")

    for imp in package.imports:
        if imp.root == "psycopg" and imp.module != "t2s.db.postgres":
            breach(imp, "only db/postgres.py talks to PostgreSQL (psycopg)")

    for imp in package.imports:
        if not imp.top_level and not package.is_heavy(imp.target):
            breach(imp, "function-local imports are for heavy libraries only; "
                        "import this at the top of the file")

    for command in ["t2s.cli", *_commands(package)]:
        loaded = package.top_level_closure(command) & ML_LIBRARIES
        if loaded:
            found.append(f"{package.modules[command].relative_to(package.dir.parents[1])}: "
                         f"`t2s {command} --help` loads {sorted(loaded)}")

    found.extend(_sqlite_connects(package))
    return found


def _sqlite_connects(package: Package) -> Iterator[str]:
    """``sqlite3.connect`` outside sqlexec.py and the sample generator (which writes new files)."""
    for name, tree in package.trees.items():
        if name == "t2s.sqlexec" or _within(name, "t2s.data.sample"):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "connect"
                    and getattr(node.func.value, "id", None) == "sqlite3"):
                path = package.modules[name].relative_to(package.dir.parents[1])
                yield (f"{path}:{node.lineno}: sqlite3.connect: only sqlexec.py opens a "
                       "user's or dataset's database")


def test_the_package_keeps_its_walls():
    found = breaches(Package(PACKAGE))
    assert not found, "architecture breaches:\n" + "\n".join(found)


@pytest.mark.parametrize(("relative", "edit", "expected"), [
    ("config/__init__.py", "from t2s.data.spider import Table\n", "config/ imports nothing"),
    ("config/model.py", "import yaml\n", "config/'s sections import no YAML"),
    ("config/train.py", "from t2s.config import load_config\n", "config/'s sections import no YAML"),
    ("inference/pipeline.py", "\n\ndef _sneak():\n    from t2s.training.train import prepare_data\n",
     "inference/ and models/ never import training/"),
    ("models/loading.py", "from t2s.training.runs import checkpoints\n",
     "inference/ and models/ never import training/"),
    ("launch/jobs_command.py", "from t2s.cli import main\n", "nothing imports cli"),
    ("data/prompts.py", "\n\ndef _sneak():\n    import t2s.inference.generate\n", "data/ imports no"),
    ("launch/command.py", "from t2s.inference import command as stage\n", "launch/ imports config"),
    ("evaluation/runner.py", "from t2s.inference.postprocess import extract_sql\n",
     "only evaluation/model.py"),
    ("cli.py", "import torch\n", "loads ['torch']"),
    ("data/schema_text.py", "\n\ndef _sneak(path):\n    return sqlite3.connect(path)\n",
     "sqlite3.connect: only sqlexec.py"),
    ("provenance.py", "\n\ndef _sneak():\n    import json\n", "function-local imports"),
    ("db/importer.py", "\n\ndef _sneak():\n    import psycopg\n", "only db/postgres.py"),
])
def test_a_breach_is_caught(tmp_path, relative, edit, expected):
    copy = tmp_path / "src" / "t2s"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / relative
    target.write_text(target.read_text(encoding="utf-8") + edit, encoding="utf-8")
    found = breaches(Package(copy))
    line = len(target.read_text(encoding="utf-8").splitlines())
    hits = [f for f in found if expected in f]
    assert hits, found
    # The message names the file and (for import rules) the line of the breach.
    assert any(f"src/t2s/{relative}" in f for f in hits), hits
    if "--help" not in expected and "loads" not in expected:
        assert any(f"src/t2s/{relative}:{n}:" in f for f in hits for n in range(line - 3, line + 1))


def test_scoring_prediction_files_loads_no_ml_library(tmp_path, sample_dir):
    """`t2s evaluate --gold/--pred` runs without torch or transformers."""
    gold = sample_dir / "dev_gold.sql"
    pred = tmp_path / "pred.sql"
    pred.write_text("".join(line.split("\t")[0] + "\n"
                            for line in gold.read_text(encoding="utf-8").splitlines()))
    code = (
        "import sys\nfrom t2s.cli import main\n"
        f"status = main(['evaluate', '--gold', {str(gold)!r}, '--pred', {str(pred)!r}, "
        f"'--db', {str(sample_dir / 'database')!r}, '--table', {str(sample_dir / 'tables.json')!r}, "
        f"'--out', {str(tmp_path / 'r.json')!r}])\n"
        f"print('STATUS', status, sorted(m for m in {sorted(ML_LIBRARIES)!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "STATUS 0 []"
    assert (tmp_path / "r.json").is_file()


# Issue 15: a function that does one thing reads in one screen. The three packages
# that were split for it (config sections, the training stages, the serve routers)
# keep every function, methods included, at 60 lines or fewer (def line to last line).
SHORT_FUNCTION_PACKAGES = ("config", "training", "serve")
MAX_FUNCTION_LINES = 60


def long_functions(root: Path) -> list[str]:
    """``path:line name (N lines)`` for each over-long function under the short-function packages."""
    found = []
    for package in SHORT_FUNCTION_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} "
                                     f"({lines} lines)")
    return found


def test_functions_in_the_split_packages_stay_short():
    assert long_functions(PACKAGE) == []


def test_a_long_function_is_caught(tmp_path):
    for package in SHORT_FUNCTION_PACKAGES:
        (tmp_path / package).mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "serve" / "app.py").write_text(f"def create_app():\n{body}")
    (tmp_path / "config" / "ok.py").write_text("def short():\n    return 1\n")
    assert long_functions(tmp_path) == [f"serve/app.py:1 create_app ({MAX_FUNCTION_LINES + 1} lines)"]
