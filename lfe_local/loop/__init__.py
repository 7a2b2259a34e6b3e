"""The loop: the only package that knows what a cycle is.

cycle 0:  prepare -> eval_train -> eval_val -> eval_test            (the base target)
cycle c:  instruct -> verify -> train -> eval_val -> eval_test [-> eval_train, if a cycle follows]

Read runner.py first: it opens (or continues) a run and goes through that plan, one stage at a
time. Each stage is a function in its own module — prepare.py, evaluate.py, instruct.py (with
failures.py, retrieval.py for LEC and program_mode.py for generators), verify.py (with
generator_checks.py), train.py — handed a Context (context.py: the run, its items, the models it
may load) and returning a StageOutput, which the runner writes with the stage's done-marker in
one transaction: a rerun of `lfe run` skips every finished stage and continues with the first
unfinished one. identity.py says when two runs, or two cycle-0 evaluations, are the same;
results.py what a run bought; stopping.py what Ctrl-C does.
"""

from .. import offline  # noqa: F401  (before any model library, as the engines do)
from .context import Context, StageOutput, StopRequested
from .identity import base_key, config_differences, fingerprint
from .runner import STAGES, Loop, RunSummary, plan, run_stage

__all__ = ["STAGES", "Context", "Loop", "RunSummary", "StageOutput", "StopRequested", "base_key",
           "config_differences", "fingerprint", "plan", "run_stage"]
