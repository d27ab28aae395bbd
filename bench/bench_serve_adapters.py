"""Server memory with N adapters: one shared base (now) vs a base per adapter (before issue 17).

Each measurement is a fresh process that loads N seeded rank-8 LoRAs of one base
into the server's adapter registry (what ``t2s serve`` holds) and reports its
resident set size (VmRSS). "per adapter" passes ``build_predictor`` as the loader,
which is how the registry loaded adapters before: a full model each.

    python bench/bench_serve_adapters.py --base /tmp/smollm2-sb      # t2s base --from-gguf ...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_adapters(base: Path, out: Path, count: int) -> list[Path]:
    """``count`` seeded rank-8 LoRAs (q_proj, v_proj) of ``base``, saved as peft folders."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folders = []
    for index in range(count):
        folder = out / f"lora{index}"
        if not (folder / "adapter_config.json").is_file():
            torch.manual_seed(index)
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
            peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16,
                                                    target_modules=["q_proj", "v_proj"],
                                                    init_lora_weights="gaussian"))
            peft.save_pretrained(folder)
        folders.append(folder)
    return folders


def child(mode: str, dtype: str, folders: list[str]) -> None:
    from t2s.config import load_config
    from t2s.inference.pipeline import build_predictor
    from t2s.serve.adapters import AdapterRegistry

    config = load_config(ROOT / "configs" / "tiny.yaml",
                         [f"infer.adapter_path={folders[0]}", f"model.dtype={dtype}"])
    registry = AdapterRegistry(config, None, build_predictor if mode == "per-adapter" else None)
    for index, folder in enumerate(folders):
        registry.load(f"a{index}", folder)
    status = Path("/proc/self/status").read_text()
    rss_kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    print(json.dumps({"rss_mb": rss_kb / 1024, "bases": len(registry.bases)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="a base model folder (SmolLM2 from t2s base)")
    parser.add_argument("--work", default="/tmp/t2s-bench-adapters")
    # float32 weights are mmap views of the one safetensors file: a second copy
    # shares its page cache and RSS hides it; bfloat16 (GPU serving) converts, so copies.
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2:])
        return
    folders = make_adapters(Path(args.base), Path(args.work), 4)
    size_mb = sum(f.stat().st_size for f in folders[0].rglob("*") if f.is_file()) / 2**20
    print(f"base {args.base} ({args.dtype}); adapter folder {size_mb:.1f} MB each")
    print(f"{'adapters':>8} {'per adapter (MB)':>17} {'shared (MB)':>12}")
    for count in (1, 2, 4):
        row = []
        for mode in ("per-adapter", "shared"):
            out = subprocess.run([sys.executable, __file__, "--base", args.base, "--child", mode,
                                  args.dtype, *map(str, folders[:count])], capture_output=True, text=True,
                                 check=True).stdout
            row.append(json.loads(out.strip().splitlines()[-1])["rss_mb"])
        print(f"{count:>8} {row[0]:>17.0f} {row[1]:>12.0f}")


if __name__ == "__main__":
    main()
