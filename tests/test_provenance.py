"""t2s.provenance: a write that fails for want of room is recognised, whoever wrote."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

from t2s.provenance import disk_full_message

# Writes past a file-size limit (EFBIG, as a full disk's ENOSPC) through each
# writer a training save uses, in a child with RLIMIT_FSIZE: the real errors.
_CHILD = """
import json, resource, signal, sys
import torch
from safetensors.torch import save_file
from t2s.provenance import disk_full_message
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, do not kill
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
folder = sys.argv[1]
tensors = {"w": torch.zeros(10_000)}
writers = {"torch.save": lambda: torch.save(tensors, folder + "/o.pt"),
           "safetensors": lambda: save_file(tensors, folder + "/o.safetensors"),
           "open": lambda: open(folder + "/o.json", "w").write("x" * 10_000)}
out = {}
for name, write in writers.items():
    try:
        write()
        out[name] = None
    except Exception as exc:
        out[name] = [type(exc).__name__, disk_full_message(exc, folder)]
print(json.dumps(out))
"""


def test_full_writes_of_every_writer_are_one_message(tmp_path):
    child = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    results = json.loads(child.stdout.strip().splitlines()[-1])
    # torch.save raises a RuntimeError with no errno ("unexpected pos"), safetensors
    # its own error type: each is still recognised.
    assert {name: kind for name, (kind, _) in results.items()} == {
        "torch.save": "RuntimeError", "safetensors": "SafetensorError", "open": "OSError"}
    for name, (_, message) in results.items():
        assert message is not None, name
        assert message.startswith(f"no space left while writing {tmp_path} (File too large"), message
    assert "the file-size limit is 4096 bytes" in results["torch.save"][1]


def test_other_errors_are_not_taken_for_a_full_disk(tmp_path):
    assert disk_full_message(OSError(errno.EACCES, "Permission denied"), tmp_path) is None
    assert disk_full_message(RuntimeError("CUDA out of memory"), tmp_path) is None
    full = disk_full_message(RuntimeError("PytorchStreamWriter failed writing file data/0: "
                                          "file write failed"), tmp_path)
    assert full is not None and full.startswith(f"no space left while writing {tmp_path}")
    quota = disk_full_message(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path)
    assert quota is not None and "(Disk quota exceeded)" in quota
