import os
import pickle
import subprocess
import sys
import time

import pytest
import torch

from llmops.errors import StageError
from llmops.training.checkpoints import ResumeFolder, exclusive


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_tampered_checkpoint_is_refused_without_running_its_code(tmp_path):
    folder = ResumeFolder("pretrain", {"params": {}}, root=tmp_path / "checkpoints")
    folder.dir.mkdir(parents=True)
    payload = _RunsCode()
    payload.marker = tmp_path / "executed"
    with open(folder.last, "wb") as f:
        pickle.dump({"global_step": 5, "evil": payload}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        folder.resume_step()
    assert not payload.marker.exists()
    torch.save({"global_step": 7, "state_dict": {"w": torch.zeros(2)}}, folder.last)  # tensors load
    assert folder.resume_step() == 7


def test_a_second_trainer_of_a_stage_is_refused_while_the_first_holds_it(tmp_path):
    root = tmp_path / "checkpoints"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from llmops.training.checkpoints import exclusive\n"
            f"with exclusive('finetune', root=Path({str(root)!r})):\n"
            "    print('holding', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StageError, match=rf"finetune is already training .*process {holder.pid} holds"):
            with exclusive("finetune", root=root):
                pass
        with exclusive("pretrain", root=root):  # other stages are not blocked
            pass
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with exclusive("finetune", root=root):  # released when its holder died
        pass
