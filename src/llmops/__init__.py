"""llmops: a pipeline from raw text to a registered classifier."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llmops")
except PackageNotFoundError:  # run from a source tree without an install
    __version__ = "0+unknown"

import os as _os  # noqa: E402

# Nothing is downloaded at run time, and no telemetry leaves the machine.
for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # Arrow's default mimalloc pool keeps freed pages: measured ~50 MB more peak RSS per 400k rows read.
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    # OpenMP threads that wait by sleeping, not spinning: two 2-thread trainings on 2 cores spun each
    # other out (12.5x their solo time, benchmarks/concurrent_training.py); passive, 1.5x. It costs a
    # run alone ~10% of pre-training throughput (measured 3,388 vs 3,768 tokens/s): set
    # OMP_WAIT_POLICY=ACTIVE for a machine that never runs two jobs. Read when torch loads its OpenMP
    # runtime, so it is set here, before any stage imports torch.
    "OMP_WAIT_POLICY": "PASSIVE",
}.items():
    _os.environ.setdefault(_k, _v)
