"""Passwords never reach a config, a message or an output (issue 19).

A password written into a config's connection string is refused (configs are
copied into run folders and reports); libpq's own PGPASSWORD / ~/.pgpass are
the places for it. The stages' own outputs are grepped in test_pg_infer.py and
test_pg_serve.py; here the config side, which needs no server.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from t2s.config import load_config, parse_named_path
from t2s.errors import ConfigError
from t2s.sqlexec import describe_target

from .conftest import ROOT, STAGES_SECRET


@pytest.mark.parametrize("entry", [
    f"shop=postgresql://reader:{STAGES_SECRET}@db.example/shop",
    f"shop=postgres://reader:{STAGES_SECRET}@/shop?host=/run/pg",
    f"shop=postgresql://reader@db.example/shop?sslmode=require&password={STAGES_SECRET}",
    f"shop=host=db.example dbname=shop password={STAGES_SECRET}",
])
def test_a_literal_password_in_a_yaml_config_is_refused(tmp_path, entry):
    config = tmp_path / "serve.yaml"
    config.write_text(f"serve:\n  databases:\n    - '{entry}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    assert f"{config}: serve.databases.0: holds a password" in message
    assert "PGPASSWORD" in message and "~/.pgpass" in message
    assert STAGES_SECRET not in message


def test_an_override_with_a_password_is_refused_too():
    with pytest.raises(ConfigError) as caught:
        load_config(None, [f"serve.databases=[shop=postgresql://r:{STAGES_SECRET}@h/shop]"])
    assert "command line: serve.databases.0: holds a password" in str(caught.value)
    assert STAGES_SECRET not in str(caught.value)


def test_a_dsn_without_a_password_is_accepted():
    dsn = "shop=postgresql://reader@/shop?host=/run/pg&port=5432"
    # Quoted: unquoted, YAML reads "&port" as an anchor.
    assert load_config(None, [f"serve.databases=['{dsn}']"]).serve.databases == [dsn]


def test_a_type_error_does_not_quote_a_password():
    with pytest.raises(ConfigError) as caught:
        load_config(None, [f"serve.databases=postgresql://r:{STAGES_SECRET}@h/shop"])
    assert "expected a list" in str(caught.value) and STAGES_SECRET not in str(caught.value)


def test_a_malformed_entry_does_not_repeat_a_dsn():
    with pytest.raises(ConfigError) as caught:
        parse_named_path(f"postgresql://reader:{STAGES_SECRET}@h/shop")
    assert "a database URI is not NAME=PATH" in str(caught.value)
    assert STAGES_SECRET not in str(caught.value)


def test_describe_target_is_the_one_display_of_a_database():
    shown = describe_target(f"postgresql://reader:{STAGES_SECRET}@h/shop?password={STAGES_SECRET}")
    assert shown == "postgresql://reader:***@h/shop?password=***"
    assert describe_target(ROOT / "x.sqlite") == str(ROOT / "x.sqlite")


def test_the_cli_refuses_such_a_config_in_one_line(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text(f"serve:\n  databases: ['shop=postgresql://r:{STAGES_SECRET}@h/shop']\n")
    done = subprocess.run([sys.executable, "-m", "t2s.cli", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert "holds a password" in done.stderr and "Traceback" not in done.stderr
    assert STAGES_SECRET not in done.stderr + done.stdout
