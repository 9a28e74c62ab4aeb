import numpy as np

from llmops.label_efficiency.cells import Cell, CellStore


def _result(value: float) -> dict:
    return {
        "best_val_f1_macro": value,
        "best_step": 4,
        "steps": 8,
        "train_time_s": 1.0,
        "test_pred": np.array([0, 2, 1]),
    }


def test_finished_cells_survive_a_kill_and_only_for_the_same_inputs(tmp_path):
    folder = tmp_path / "checkpoints/learning_curve"
    store = CellStore(folder, fingerprint={"params": {"steps": [8]}, "lm": "run-1"})
    store.add(Cell("pretrained", budget=40, seed=1), _result(0.5))
    store.add(Cell("scratch", budget=40, seed=1), _result(0.4))
    with (folder / "cells.jsonl").open("a") as f:
        f.write('{"fingerprint": "torn line of a killed wr')  # killed mid-write

    again = CellStore(folder, fingerprint={"params": {"steps": [8]}, "lm": "run-1"})
    assert sorted(again.cells) == ["pretrained@40/seed1", "scratch@40/seed1"]
    assert again.cells["scratch@40/seed1"]["best_val_f1_macro"] == 0.4
    assert np.array_equal(again.cells["pretrained@40/seed1"]["test_pred"], [0, 2, 1])

    other = CellStore(folder, fingerprint={"params": {"steps": [9]}, "lm": "run-1"})  # params changed
    assert other.cells == {} and not (folder / "cells.jsonl").exists()
    other.add(Cell("pretrained", budget=40, seed=1), _result(0.6))
    other.clear()
    assert not folder.exists()
