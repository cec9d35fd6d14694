"""`coverctl batch`: resolve every row of a CSV/JSONL file, fast as the providers allow and
resumable after any interruption.

The library entry points are `run_batch` and `plan_batch` (`--dry-run`); the CLI is a thin layer
over them (coverctl/cli/batch_cmd.py).
"""

from coverctl.batch.engine import BatchEngine, error_result, failure_result, query_key
from coverctl.batch.options import DEFAULT_CONCURRENCY, BatchOptions
from coverctl.batch.plan import BatchPlan, plan_batch
from coverctl.batch.runner import BatchObserver, resume_command, run_batch
from coverctl.batch.summary import BatchSummary

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BatchEngine",
    "BatchObserver",
    "BatchOptions",
    "BatchPlan",
    "BatchSummary",
    "error_result",
    "failure_result",
    "plan_batch",
    "query_key",
    "resume_command",
    "run_batch",
]
