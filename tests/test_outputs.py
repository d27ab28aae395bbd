"""Tests for the output-path checks in :mod:`t2s.outputs`: only regular files or new
paths are written, and a folder holding files t2s did not write is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from t2s.errors import InputError
from t2s.outputs import check_output_file, check_output_folder


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_device_is_refused() -> None:
    with pytest.raises(InputError, match="/dev/full is a character device"):
        check_output_file("/dev/full", "--out")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        check_output_file(fifo, "--out")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_directory_is_refused_as_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        check_output_file(tmp_path, "--out")


def test_a_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "file.txt"
    parent.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is a file, so nothing can be created"):
        check_output_file(parent / "sub" / "REPORT.json", "--out")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_folder(parent, "--out")


def test_regular_files_and_new_paths_pass(tmp_path: Path) -> None:
    existing = tmp_path / "REPORT.json"
    existing.write_text("{}", encoding="utf-8")
    assert check_output_file(existing) == existing
    assert check_output_file(tmp_path / "new" / "REPORT.json") == tmp_path / "new" / "REPORT.json"


def test_a_folder_of_foreign_files_is_refused_unless_ours(tmp_path: Path) -> None:
    check_output_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty")
    (tmp_path / "train.json").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match=r"holds files t2s did not write.*pass --force"):
        check_output_folder(tmp_path, "--out", force="--force")
    check_output_folder(tmp_path, ours=lambda out: (out / "train.json").is_file())
