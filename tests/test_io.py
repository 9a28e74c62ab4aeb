import pytest

from llmops.io import atomic_dir, write_json


def test_atomic_dir_replaces_on_success(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_rewrite_sweeps_what_a_killed_write_left_behind(tmp_path):
    (tmp_path / ".out.tmp-abc123").mkdir()  # a stage SIGKILLed inside atomic_dir
    (tmp_path / ".out.tmp-abc123" / "part.bin").write_bytes(b"x" * 100)
    (tmp_path / ".out.old-4242").mkdir()  # killed between the two renames
    (tmp_path / ".m.json.tmp-zz").write_text("{")  # killed inside atomic_file
    (tmp_path / ".other.tmp-1").mkdir()  # another output's: not ours to sweep
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("a")
    write_json(tmp_path / "m.json", {"k": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-1", "m.json", "out"]


def test_a_step_checkpoint_sweeps_a_torn_temp_file(tmp_path):
    from llmops.training.checkpoints import StepCheckpoint

    torn = tmp_path / "last.ckpt.tmp"  # a disk-full failure mid-save
    torn.write_bytes(b"\0" * 1000)
    StepCheckpoint(tmp_path / "last.ckpt", every_n_steps=50)
    assert not torn.exists()
