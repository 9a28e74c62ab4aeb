"""Loss curves of a training run, drawn from its MLflow metric history."""

from __future__ import annotations

from pathlib import Path


def loss_curves_png(client, run_id: str, path: Path, title: str, keys=("train_loss", "val_loss")) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for key in keys:
        history = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
        if history:
            ax.plot(
                [m.step for m in history],
                [m.value for m in history],
                marker="." if len(history) < 50 else None,
                label=key,
            )
            drawn = True
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return drawn
