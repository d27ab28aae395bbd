"""The model card of a trained model: ``final_model/README.md``, written by t2s.

PEFT's ``save_pretrained`` leaves a template full of "[More Information
Needed]". t2s knows every fact a reader needs, so training replaces it with a
card built from the run's ``run_info.json`` record (:func:`write_training_card`):
base model and its fingerprint (and, for a base converted from GGUF, the source
file's sha256 and quantization), data sources and fingerprints, prompt settings,
LoRA configuration, steps and tokens seen, intended use and limits. The facts
are kept beside the card in ``t2s_card.json``; ``t2s evaluate`` adds its latest
metrics there and renders the card again (:func:`record_evaluation`), so the
card never quotes numbers older than the model's last evaluation.

Light on purpose (no ML library): scoring imports it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from t2s.models.base import MARKER_FILE
from t2s.provenance import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
FACTS_FILE = "t2s_card.json"
_LEVELS = ("easy", "medium", "hard", "extra")


def base_facts(base_path: str) -> dict[str, Any]:
    """What identifies the base model: its path, and a converted base's provenance."""
    facts: dict[str, Any] = {"name_or_path": base_path}
    marker = Path(base_path) / MARKER_FILE
    if marker.is_file():
        written = json.loads(marker.read_text(encoding="utf-8"))
        provenance = written.get("provenance")
        if provenance:  # converted from GGUF by t2s.models.gguf_model
            gguf = provenance.get("gguf", {})
            facts.update(source_file=provenance.get("source_file"),
                         source_sha256=provenance.get("source_sha256"),
                         quantization=gguf.get("file_type"), license=gguf.get("license"),
                         upstream=" / ".join(x for x in (gguf.get("organization"), gguf.get("name"))
                                             if x),
                         parameters=provenance.get("parameters"))
        else:  # t2s base --tokenizer-gguf: random weights
            facts.update(random_weights=True, tokenizer_sha256=written.get("gguf_sha256"))
    return facts


def training_facts(run_info: Mapping[str, Any], base_fingerprint: str) -> dict[str, Any]:
    """The card's facts from a training run's ``run_info.json`` record."""
    config, result = run_info["config"], run_info["result"]
    data, train = config["data"], config["train"]
    seconds = result.get("seconds") or 0
    return {
        "base": {**base_facts(run_info["base_model"]), "fingerprint": base_fingerprint},
        "data": {
            "source": run_info.get("data", {}).get("source", data.get("source")),
            "root": data.get("root"), "train_file": data.get("train_file"),
            "eval_file": data.get("eval_file"), "eval_select": data.get("eval_select"),
            "max_train_examples": data.get("max_train_examples"),
            "fingerprints": run_info.get("data_fingerprints", {}),
            "lengths": run_info.get("lengths", []),
        },
        "prompt": {"prompt_format": data.get("prompt_format"), **data.get("prompt", {}),
                   "schema": data.get("schema", {}), "evidence": data.get("evidence")},
        "method": train.get("method"),
        "lora": config.get("lora") if train.get("method") == "lora" else None,
        "training": {
            "steps": result.get("global_step"), "tokens_seen": result.get("train_tokens"),
            "tokens_per_s": round(result["train_tokens"] / seconds, 1) if seconds else None,
            "seconds": seconds, "train_loss": result.get("train_loss"),
            "best_metric": result.get("best_metric"), "precision": run_info.get("precision"),
            "learning_rate": train.get("learning_rate"),
            "per_device_train_batch_size": train.get("per_device_train_batch_size"),
            "gradient_accumulation_steps": train.get("gradient_accumulation_steps"),
            "max_seq_length": train.get("max_seq_length"),
        },
        "provenance": {"t2s": run_info["environment"]["packages"].get("t2s"),
                       "git_commit": run_info["environment"].get("git_commit"),
                       "trained_at": run_info["environment"].get("time_utc")},
        "evaluation": None,
    }


def write_training_card(model_dir: str | Path, run_info: Mapping[str, Any],
                        base_fingerprint: str) -> Path:
    """Write ``t2s_card.json`` and ``README.md`` into ``model_dir``; returns the card.

    Raises:
        OSError: if the folder cannot be written.
    """
    model_dir = Path(model_dir)
    facts = training_facts(run_info, base_fingerprint)
    write_json_atomic(model_dir / FACTS_FILE, facts)
    write_text_atomic(model_dir / CARD_FILE, render_card(facts))
    return model_dir / CARD_FILE


def evaluation_facts(report: Mapping[str, Any], split: str, report_path: str) -> dict[str, Any]:
    """The card's evaluation section from a ``t2s evaluate`` report."""
    summary, manifest = report["summary"], report["manifest"]

    def accuracy(stats: Mapping[str, Any], key: str) -> float | None:
        value = stats.get(key)
        return None if value is None else value["accuracy"]

    return {
        "split": split, "report": report_path, "created_at": manifest.get("created_at"),
        "count": summary["count"],
        "execution": accuracy(summary, "execution"),
        "exact_match": accuracy(summary, "exact_match"),
        "by_hardness": {level: {"count": stats["count"],
                                "execution": accuracy(stats, "execution"),
                                "exact_match": accuracy(stats, "exact_match")}
                        for level, stats in summary.get("by_hardness", {}).items()},
        "decoding": (manifest.get("model") or {}).get("decoding"),
    }


def record_evaluation(model_dir: str | Path, report: Mapping[str, Any], split: str,
                      report_path: str) -> Path | None:
    """Put the latest evaluation on the card of ``model_dir``; returns the card.

    None (nothing written, a warning logged where it is a failure) for a folder
    t2s did not train, such as a base model scored zero-shot (its README is not
    ours to change), a damaged ``t2s_card.json`` or a read-only folder. Raises nothing:
    the evaluation report is already written when this runs.
    """
    model_dir = Path(model_dir)
    facts_path = model_dir / FACTS_FILE
    if not facts_path.is_file():
        return None
    try:
        facts = json.loads(facts_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # damaged or unreadable: the report still stands
        log.warning("could not read the model card facts %s (%s); the card is not updated — "
                    "retrain or delete the file to drop the card", facts_path, exc)
        return None
    facts["evaluation"] = evaluation_facts(report, split, report_path)
    try:
        write_json_atomic(facts_path, facts)
        write_text_atomic(model_dir / CARD_FILE, render_card(facts))
    except OSError as exc:  # a read-only model folder: the report itself is written
        log.warning("could not update the model card in %s: %s", model_dir, exc)
        return None
    return model_dir / CARD_FILE


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _base_section(base: Mapping[str, Any]) -> list[str]:
    lines = ["## Base model", "", f"- `{base['name_or_path']}` (t2s fingerprint `{base['fingerprint']}`)"]
    if base.get("source_sha256"):
        lines.append(f"- converted by `t2s base --from-gguf` from `{base['source_file']}` "
                     f"(sha256 `{base['source_sha256']}`, {base.get('quantization')}"
                     f"{', dequantized to float weights' if base.get('quantization') else ''})")
        if base.get("upstream"):
            lines.append(f"- upstream: {base['upstream']}; licence {base.get('license') or 'unknown'}")
        if base.get("parameters"):
            lines.append(f"- parameters: {base['parameters']:,}")
    if base.get("random_weights"):
        lines.append("- **random weights** (t2s base --tokenizer-gguf): a test model, not a "
                     "pretrained one")
    return lines


def _data_section(data: Mapping[str, Any]) -> list[str]:
    lines = ["## Data", "", f"- source `{data['source']}` at `{data['root']}`: trained on "
             f"`{data['train_file']}`"
             + (f" (first {data['max_train_examples']} examples)" if data.get("max_train_examples")
                else "")
             + (f", evaluated on `{data['eval_file']}`" if data.get("eval_file") else "")
             + (f" selection `{data['eval_select']}`" if data.get("eval_select") else "")]
    for length in data.get("lengths", []):
        lines.append(f"- {length['split']}: {length['kept']} of {length['total']} examples "
                     f"fit {length['max_length']} tokens (longest {length['longest']})")
    lines += ["", "| file | sha256 |", "|---|---|"]
    lines += [f"| `{name}` | `{digest}` |" for name, digest in data.get("fingerprints", {}).items()]
    return lines


def _prompt_section(prompt: Mapping[str, Any]) -> list[str]:
    shown = {k: v for k, v in prompt.items() if k != "schema"}
    schema = prompt.get("schema", {})
    return ["## Prompt", "",
            "Every t2s command that prompts this model reads these settings from the "
            "`config.yaml` beside it, so it is prompted as it was trained.", "",
            *(f"- `{key}`: {json.dumps(value)}" for key, value in shown.items()),
            f"- schema text: {', '.join(f'{k}={v}' for k, v in schema.items())}"]


def _training_section(facts: Mapping[str, Any]) -> list[str]:
    train, lora = facts["training"], facts.get("lora")
    lines = ["## Training", ""]
    if lora:
        lines.append(f"- LoRA r={lora['r']}, alpha={lora['alpha']}, dropout={lora['dropout']}, "
                     f"targets {lora['target_modules']}"
                     + (", DoRA" if lora.get("use_dora") else "")
                     + (", rsLoRA" if lora.get("use_rslora") else ""))
    else:
        lines.append(f"- method: {facts.get('method')} (all weights trained)")
    lines += [
        f"- {train['steps']} optimizer steps, {train['tokens_seen']:,} tokens seen"
        + (f" ({train['tokens_per_s']} tokens/s)" if train.get("tokens_per_s") else "")
        + f" in {train['seconds']:.0f} s, precision {train['precision']}",
        f"- learning rate {train['learning_rate']}, {train['per_device_train_batch_size']} "
        f"sequences per device x {train['gradient_accumulation_steps']} grad-accum, "
        f"<= {train['max_seq_length']} tokens each",
        f"- final train loss {train['train_loss']}; best {json.dumps(train['best_metric'])}",
    ]
    return lines


def _evaluation_section(evaluation: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Evaluation", ""]
    if not evaluation:
        return lines + ["Not evaluated yet: `t2s evaluate --config <config> "
                        "infer.adapter_path=<this folder>` puts its metrics here."]
    lines += [f"Latest `t2s evaluate` ({evaluation['created_at']}), {evaluation['count']} "
              f"questions of {evaluation['split']}: execution accuracy "
              f"{_pct(evaluation['execution'])}%, exact set match "
              f"{_pct(evaluation['exact_match'])}% (report `{evaluation['report']}`).", "",
              "| hardness | count | exec % | exact % |", "|---|---:|---:|---:|"]
    for level in [*_LEVELS, *(k for k in evaluation["by_hardness"] if k not in _LEVELS)]:
        stats = evaluation["by_hardness"].get(level)
        if stats:
            lines.append(f"| {level} | {stats['count']} | {_pct(stats['execution'])} "
                         f"| {_pct(stats['exact_match'])} |")
    if evaluation.get("decoding"):
        lines += ["", f"Decoding: `{json.dumps(evaluation['decoding'], sort_keys=True)}`"]
    return lines


_USE = """## Intended use and limits

- Intended use: writing SQLite queries for English questions about a database whose
  schema is given in the prompt above, for people who check or sandbox the SQL
  before trusting its result (`t2s infer --execute` runs it read-only with a time,
  row and size budget).
- Not for: other SQL dialects, schemas much larger than those trained on (prompts
  past the training length were dropped, see Data), or unattended use on data
  where a wrong query is costly: the scores above are what to expect at best, on
  questions like the evaluation split's.
- Execution accuracy is plain EX on the evaluation databases (not the distilled
  test-suite databases); a question whose gold result a wrong query happens to
  match counts as correct.
- The model inherits the base model's limits and licence."""


def render_card(facts: Mapping[str, Any]) -> str:
    """The Markdown card (a Hugging Face YAML header, then the sections)."""
    base, provenance = facts["base"], facts["provenance"]
    header = ["---", f"base_model: {json.dumps(base['name_or_path'])}",
              *([f"license: {base['license']}"] if base.get("license") else []),
              *(["library_name: peft"] if facts.get("lora") else []),
              "tags: [text-to-sql, t2s" + (", lora]" if facts.get("lora") else "]"),
              "---", ""]
    title = ["# Text-to-SQL model trained by t2s", "",
             f"Fine-tuned ({facts.get('method')}) from `{base['name_or_path']}` by t2s "
             f"{provenance.get('t2s')} (git {provenance.get('git_commit') or 'unknown'}) at "
             f"{provenance.get('trained_at')}.", ""]
    sections = [_base_section(base), _data_section(facts["data"]),
                _prompt_section(facts["prompt"]), _training_section(facts),
                _evaluation_section(facts.get("evaluation")), [_USE]]
    return "\n".join(header + title + [line for s in sections for line in [*s, ""]])
