"""finetune: train the sequence classifier on the labeled train split, starting from the
pre-trained LM (finetune.init=pretrained), random init (scratch) or a local Hugging Face checkpoint
(hf, with finetune.checkpoint); keep the best evaluation by validation macro-F1
-> models/classifier/ (HF format, with tokenizer) and metrics/finetune.json."""

from __future__ import annotations

import sys
from pathlib import Path

from llmops.config import load_stage_params


def main() -> int:
    params = load_stage_params("finetune")
    from llmops.training.finetune import Job, run

    init = str(params.finetune.init)
    return run(
        params,
        Job(
            stage="finetune",
            init=init,
            out=Path("models/classifier"),
            metrics=Path("metrics/finetune.json"),
            curves=Path("reports/curves/finetune"),
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
