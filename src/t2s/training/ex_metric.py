"""Execution accuracy during training (``train.metric_for_best_model: eval_ex``).

Text-to-SQL users find that the lowest eval loss is not the best execution
accuracy. At each evaluation step this callback generates SQL for the first
``train.ex_eval_examples`` examples of the eval split with the in-training model,
through the project's inference (same prompts, greedy decoding, same
post-processing) and scores them with the project's evaluator (the same safe
execution as ``t2s evaluate``). ``eval_ex`` joins the evaluation metrics (so the
Trainer can keep the best checkpoint by it) and the logs (TensorBoard, the loss
curve PNG, ``run_info.json``).

Every process computes it on the same examples (generation under ZeRO-3 needs all
ranks; each rank then agrees on the best checkpoint).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from t2s.config import Config
from t2s.data.spider import Example, SpiderDataset
from t2s.db.dialect import live_databases
from t2s.evaluation.inputs import gold_from_examples
from t2s.evaluation.metrics import training_metric, training_value
from t2s.evaluation.runner import score_examples
from t2s.inference.generate import SQLGenerator
from t2s.inference.pipeline import generate_predictions

log = logging.getLogger(__name__)

METRIC = "eval_ex"
_SCORED = training_metric(METRIC)  # the evaluator's execution accuracy


def execution_accuracy(model, tokenizer, config: Config, examples: Sequence[Example],
                       dataset: SpiderDataset) -> float:
    """Share of ``examples`` whose generated SQL returns the gold result (0..1)."""
    generator = SQLGenerator(model, tokenizer, config.infer.decoding)
    predictions = generate_predictions(config, examples, dataset, progress=False,
                                       backend=generator)
    return score_sql(config, examples, dataset, [p.sql for p in predictions])


def score_sql(config: Config, examples: Sequence[Example], dataset: SpiderDataset,
              predictions: Sequence[str]) -> float:
    """``eval_ex`` of generated SQL: the evaluator's execution accuracy, unrounded (0..1).

    Scored with ``config.eval`` as loaded, so with the same execution metric as
    ``t2s evaluate`` (``eval.exec_metric: auto`` is resolved when the config
    loads: BIRD's set semantics on BIRD data).

    Raises:
        DataError: if a database is missing or unreadable.
    """
    results = score_examples(
        gold_from_examples(examples), list(predictions),
        db_dir=dataset.database_dir, schemas=dataset.schemas,
        # Only EX selects checkpoints: no test-suite neighbours built per evaluation.
        options=dataclasses.replace(config.eval, etype=_SCORED.etype,
                                    test_suite=dataclasses.replace(config.eval.test_suite,
                                                                   enabled=False, neighbours=0)),
        workers=1,
        progress=False, databases=live_databases(config.data, {e.db_id for e in examples}))
    return training_value(_SCORED, [r.scores.get(_SCORED.name) for r in results])


def make_callback(config: Config, dataset: SpiderDataset, eval_examples: Sequence[Example]):
    """The callback, or None when ``eval_ex`` is not the metric for the best model.

    Call ``callback.attach(trainer)`` once the trainer exists (it logs through it).
    """
    if config.train.metric_for_best_model != METRIC:
        return None
    from transformers import TrainerCallback

    examples = list(eval_examples)[: config.train.ex_eval_examples]

    class ExecutionAccuracyCallback(TrainerCallback):
        """Adds ``eval_ex`` to each evaluation's metrics and logs."""

        trainer = None

        def attach(self, trainer) -> None:
            self.trainer = trainer

        def on_evaluate(self, args, state, control, metrics=None, model=None,
                        processing_class=None, **kwargs):
            training = model.training
            model.eval()
            try:
                value = execution_accuracy(model, processing_class, config, examples, dataset)
            finally:
                model.train(training)
            if metrics is not None:
                metrics[METRIC] = value  # read by the Trainer's best-checkpoint choice
            if self.trainer is not None:
                self.trainer.log({METRIC: value})
            log.info("step %d: %s %.3f on %d examples", state.global_step, METRIC, value,
                     len(examples))
            return control

    return ExecutionAccuracyCallback()
