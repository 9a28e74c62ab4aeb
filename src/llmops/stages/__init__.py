"""DVC stage entry points: `python -m llmops.stages.<name>`. Each reads its declared params and
inputs, calls the areas, and writes its outs atomically."""

import os
import sys

from llmops.console import quiet_third_party
from llmops.tracking.store import TrackingUnavailable, check_server

quiet_third_party()


def _one_line(kind, value, traceback) -> None:
    """A tracking server that is down is the user's to fix: one line, no traceback."""
    if isinstance(value, TrackingUnavailable):
        print(f"error: {value}", file=sys.stderr)
    else:
        sys.__excepthook__(kind, value, traceback)


sys.excepthook = _one_line
# before any work: a tracking server named in the environment must answer (tracking.uri set to a
# server is checked again when the stage opens its run)
check_server(os.environ.get("MLFLOW_TRACKING_URI", ""))
