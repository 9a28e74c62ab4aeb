"""Where cells run changes no result: in the calling process, in a pool of spawned processes and as
Ray tasks, each cell trains on one thread and gives the same best step, score and predictions."""

import numpy as np
import pytest

from llmops.label_efficiency.cells import CellStore, Executor, run_cells

from .jobs import tiny_job

pytestmark = pytest.mark.slow


def _results(tmp_path, executor: Executor, name: str) -> list[dict]:
    jobs = [tiny_job(tmp_path / "arch", seed=seed, steps=4) for seed in (0, 1, 2)]
    order = []
    out = run_cells(jobs, CellStore(tmp_path / name), executor, on_done=lambda job, r, trained: order.append(trained))
    assert order == [True, True, True]
    return [out[job.key] for job in jobs]


def test_the_process_pool_and_ray_give_what_one_process_gives(tmp_path, two_node_ray):
    alone = _results(tmp_path, Executor(workers=1), "alone")
    for name, executor in (("pool", Executor(workers=2)), ("ray", Executor(kind="ray", address=two_node_ray))):
        for a, b in zip(alone, _results(tmp_path, executor, name), strict=True):
            assert (a["best_val_f1_macro"], a["best_step"], a["steps"]) == (b["best_val_f1_macro"], b["best_step"], 4)
            assert np.array_equal(a["test_pred"], b["test_pred"]), name
