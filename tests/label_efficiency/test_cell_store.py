import dataclasses

import numpy as np

from llmops.label_efficiency.cells import Cell, CellJob, CellStore, Executor, run_cells
from llmops.models.inputs import EncodedTexts


def _job(**changes) -> CellJob:
    rows = EncodedTexts([[5, 2], [6, 7, 2]], [0, 1])
    job = CellJob(
        Cell("pretrained", budget=2, seed=1),
        steps=8,
        source="models/pretrained",
        source_digest="weights-1",
        labels=["neg", "pos"],
        train=rows,
        val=rows,
        test_ids=[[5, 2]],
        pad_id=0,
        recipe={"lr": 5e-4},
        trainer={"accelerator": "cpu", "precision": "bf16-mixed", "num_threads": 2},
    )
    return dataclasses.replace(job, **changes)


def test_a_cell_is_keyed_by_what_determines_its_result_and_nothing_else():
    key = _job().key
    assert _job().key == key
    assert _job(source="/elsewhere/models/pretrained").key == key  # where the weights lie
    more_threads = {"accelerator": "cpu", "precision": "bf16-mixed", "num_threads": 8}  # a cell runs on 1 anyway
    assert _job(trainer=more_threads).key == key
    for changed in (
        _job(source_digest="weights-2"),  # other init weights
        _job(recipe={"lr": 1e-3}),
        _job(cell=Cell("pretrained", budget=2, seed=2)),
        _job(steps=9),
        _job(train=EncodedTexts([[5, 2], [6, 8, 2]], [0, 1])),  # another label slice
        _job(trainer={"accelerator": "cpu", "precision": "32-true", "num_threads": 2}),
    ):
        assert changed.key != key


def test_stored_cells_are_read_back_and_only_missing_ones_reach_the_executor(tmp_path):
    store = CellStore(tmp_path / "cells")
    result = {"best_val_f1_macro": 0.5, "best_step": 4, "steps": 8, "train_time_s": 1.0, "test_pred": np.array([1])}
    store.put(_job().key, result)
    seen = []
    out = run_cells([_job()], store, Executor(workers=2), on_done=lambda job, r, trained: seen.append(trained))
    assert seen == [False] and out[_job().key]["best_val_f1_macro"] == 0.5
    assert np.array_equal(out[_job().key]["test_pred"], [1])
    assert store.get(_job(steps=9).key) is None
