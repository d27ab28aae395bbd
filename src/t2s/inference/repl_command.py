"""``t2s repl``: an interactive question -> SQL loop over a database.

::

    t2s repl --db my.sqlite
    t2s repl --db kennels=postgresql://reader@db.example/kennels --execute
    t2s repl --db-id concert_singer --data-dir ../shared/data/spider infer.max_new_tokens=128

Type a question to get its SQL. Commands start with ``:`` (``:help`` lists
them): show the schema, switch database, toggle execution and pretty printing,
show the last prompt. Ctrl-C cancels the current generation (or clears the
line), Ctrl-D exits. With a terminal, line editing and history come from
prompt_toolkit (``pip install 't2s[repl]'``); when stdin is not a terminal (a
pipe, a test) plain ``input()`` is used.
"""

from __future__ import annotations

import argparse
import shlex
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from t2s.cli_args import add_config_arguments, config_path, setup_logging
from t2s.data.sources import open_dataset_if_any
from t2s.errors import InputError, T2SError
from t2s.inference.adapter_prompt import load_inference_config
from t2s.inference.display import execute_and_format
from t2s.inference.pipeline import (
    Question,
    build_predictor,
    check_engines,
    make_resolver,
)
from t2s.inference.postprocess import pretty_sql
from t2s.inference.questions import split_database
from t2s.sqlexec import is_dsn

HELP = """commands:
  :schema            show the schema of the current database
  :db [NAME=]DB      switch to a SQLite file or a postgresql:// DSN
  :dbid ID           switch to a database of the Spider-format data dir
  :exec [on|off]     toggle running the SQL (read-only) and printing the result
  :pretty [on|off]   toggle re-indented SQL
  :prompt            show the last prompt sent to the model
  :help              this help
  :quit              exit (or Ctrl-D)
anything else is a question. Ctrl-C cancels a running generation."""

DEFAULT_HISTORY = "~/.cache/t2s/repl_history"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s repl``."""
    parser.add_argument("--db", metavar="[NAME=]DB",
                        help="a SQLite file or a postgresql:// DSN; its schema is read from it")
    parser.add_argument("--db-id", metavar="ID", help="a database of the Spider-format --data-dir")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="Spider-format directory for --db-id and :dbid (default: data.root)")
    parser.add_argument("--execute", action="store_true", help="start with execution on")
    parser.add_argument("--history", default=DEFAULT_HISTORY,
                        help=f"history file for line editing (default: {DEFAULT_HISTORY})")
    add_config_arguments(parser)


class Repl:
    """The REPL's state and command handling, independent of terminal I/O.

    Args:
        predictor: A loaded :class:`~t2s.inference.pipeline.Predictor`.
        infer: Generation settings (execution limits).
        db_path: Initial SQLite file or PostgreSQL DSN, or None.
        db_id: Initial Spider db_id (with a DSN: its display name), or None.
        execute: Start with execution on.
        write: Where output lines go (``print`` by default).
        check_engine: Called with ``{name: db}`` before switching to a live
            database; raises ConfigError for one of the other engine than the model's.
    """

    def __init__(self, predictor, infer, db_path: str | None = None, db_id: str | None = None,
                 execute: bool = False, write: Callable[[str], None] = print,
                 check_engine: Callable[[dict[str, str]], None] | None = None) -> None:
        self.check_engine = check_engine
        self.predictor = predictor
        self.infer = infer
        self.db_path = db_path
        self.db_id = db_id
        self.execute = execute
        self.pretty = False
        self.write = write
        self.asked = 0

    @property
    def database(self) -> str:
        """The current database as shown (a DSN by its name, or redacted)."""
        return Question("shown", "", db_path=self.db_path, db_id=self.db_id).db or "(none)"

    def banner(self) -> str:
        return (f"t2s repl on {self.database} (execution {'on' if self.execute else 'off'}); "
                ":help for commands, Ctrl-D to exit")

    def handle(self, line: str) -> bool:
        """Handle one input line; returns False when the REPL should exit."""
        line = line.strip()
        if not line:
            return True
        if line.startswith(":"):
            return self.command(line)
        self.ask(line)
        return True

    def command(self, line: str) -> bool:
        """Run a ``:command``; returns False for ``:quit``."""
        try:
            name, *rest = shlex.split(line[1:])
        except ValueError as exc:
            self.write(f"cannot parse command: {exc}")
            return True
        argument = " ".join(rest)
        if name in ("quit", "exit", "q"):
            return False
        handlers = {"help": lambda _: self.write(HELP), "schema": self._schema,
                    "db": self._switch_path, "dbid": self._switch_db_id,
                    "exec": lambda a: self._toggle("execute", a),
                    "pretty": lambda a: self._toggle("pretty", a), "prompt": self._prompt}
        handler = handlers.get(name)
        if handler is None:
            self.write(f"unknown command :{name}; :help lists the commands")
        else:
            handler(argument)
        return True

    def _question(self, text: str):
        self.asked += 1
        return Question(id=str(self.asked), question=text, db_path=self.db_path, db_id=self.db_id)

    def _schema(self, _argument: str) -> None:
        try:
            text, _path = self.predictor.resolver.resolve(self._question(""))
        except T2SError as exc:
            self.write(f"error: {exc}")
            return
        self.write(text)

    def switch(self, db_path: str | None, db_id: str | None) -> None:
        """Switch database after checking that its schema can be read."""

        try:
            if db_path and self.check_engine is not None:
                self.check_engine({db_id or db_path: db_path})
            self.predictor.resolver.resolve(Question("check", "", db_path=db_path, db_id=db_id))
        except T2SError as exc:
            self.write(f"error: {exc} (still on {self.database})")
            return
        self.db_path, self.db_id = db_path, db_id
        self.write(f"database: {self.database}")

    def _switch_path(self, argument: str) -> None:
        if not argument:
            self.write("usage: :db [NAME=]DB")
            return
        name, db = split_database(argument)
        self.switch(db if is_dsn(db) else str(Path(argument).expanduser()), name)

    def _switch_db_id(self, argument: str) -> None:
        if not argument:
            self.write("usage: :dbid ID")
            return
        self.switch(None, argument)

    def _toggle(self, attribute: str, argument: str) -> None:
        value = {"on": True, "off": False, "": not getattr(self, attribute)}.get(argument.lower())
        if value is None:
            self.write(f"usage: :{'exec' if attribute == 'execute' else attribute} [on|off]")
            return
        setattr(self, attribute, value)
        self.write(f"{'execution' if attribute == 'execute' else attribute}: {'on' if value else 'off'}")

    def _prompt(self, _argument: str) -> None:
        self.write(self.predictor.last_prompt or "(no prompt yet)")

    def ask(self, text: str) -> None:
        """Generate (and optionally run) the SQL for one question; Ctrl-C cancels it."""

        try:
            prediction = self.predictor.predict([self._question(text)])[0]
        except KeyboardInterrupt:
            self.write("(generation cancelled)")
            return
        if prediction.error:
            self.write(f"error: {prediction.error}")
            return
        self.write(pretty_sql(prediction.sql) if self.pretty else prediction.sql)
        self.write(f"-- {prediction.completion_tokens} tokens in {prediction.latency_s:.2f}s")
        if self.execute:
            self._run(prediction.sql)

    def _run(self, sql: str) -> None:
        _text, path = self.predictor.resolver.resolve(
            Question("run", "", db_path=self.db_path, db_id=self.db_id))
        if path is None:
            self.write("(no database file for this database; cannot execute)")
            return
        try:
            self.write(execute_and_format(path, sql, self.infer))
        except KeyboardInterrupt:
            self.write("(execution cancelled)")
        except (OSError, sqlite3.DatabaseError, T2SError) as exc:
            # T2SError: a PostgreSQL server that went away (PostgresConnectionError).
            self.write(f"execution failed: {exc}")


def line_reader(history: str | None) -> Callable[[str], str]:
    """``prompt_toolkit`` with history on a terminal; ``input`` otherwise.

    The returned function raises EOFError on Ctrl-D and KeyboardInterrupt on Ctrl-C.
    """
    if not sys.stdin.isatty():
        # Piped input: no prompt text, so the output holds only answers.
        return lambda _prompt: input()
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory
    except ImportError:
        return input
    stored = InMemoryHistory()
    if history:
        path = Path(history).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            stored = FileHistory(str(path))
        except OSError:
            pass  # a read-only home: history for this session only
    return PromptSession(history=stored).prompt


def loop(repl: Repl, read: Callable[[str], str]) -> int:
    """Read and handle lines until ``:quit`` or end of input; returns 0."""
    repl.write(repl.banner())
    while True:
        try:
            line = read("t2s> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            repl.write("")
            return 0
        if not repl.handle(line):
            return 0


def run(args: argparse.Namespace) -> int:
    """Start the REPL; returns 0 on a normal exit."""

    setup_logging()
    if args.db and args.db_id:
        raise InputError("--db and --db-id are alternatives; give one")
    config = load_inference_config(config_path(args.config), args.overrides)
    # :dbid needs a Spider-format dataset: --data-dir, else data.root if it
    # exists (the embedded sample is generated only when --db-id asks for it).
    dataset = open_dataset_if_any(config.data, args.data_dir, create_sample=args.db_id is not None)
    name, db = split_database(args.db)
    db_id = name or args.db_id
    if db:
        check_engines(config, {db_id or db: db})
    if db or db_id:
        # A wrong database fails now, before the model load.
        make_resolver(config, dataset).resolve(
            Question("start", "", db_path=db, db_id=db_id))
    predictor = build_predictor(config, dataset)
    repl = Repl(predictor, config.infer, db_path=db, db_id=db_id, execute=args.execute,
                check_engine=lambda databases: check_engines(config, databases))
    return loop(repl, line_reader(args.history))
