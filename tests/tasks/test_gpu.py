"""The GPU path: a few training steps of every registered task on CUDA, fp16 autocast (``trainer=gpu``).

Marked ``gpu`` and skipped where CUDA is missing. Each task runs with the tiny overrides of
`tests.tasks.test_every_task`; a task whose library is not installed (the GPU image of issue 12 had no
nni or learn2learn) is skipped.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from suite.data.tensor_batches import TensorBatches
from suite.divergence import DivergenceGuard
from suite.errors import TrainingDiverged
from suite.run import run
from suite.task import TASKS
from tests.tasks.test_every_task import TINY, TINY_TASK

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

# The FAST overrides of conftest set trainer.accelerator=cpu: a later key=value override wins over it.
GPU = ["trainer=gpu", "trainer.accelerator=gpu"]
OWN_PACKAGES = {"norms", "suite", "tasks", "tests"}


def tiny_overrides(task: str) -> list[str]:
    return [f"task={task}", *TINY, *TINY_TASK.get(task, [])]


@pytest.mark.parametrize("task", TASKS.names())
def test_every_task_trains_and_tests_on_cuda(make_config, task):
    cfg = make_config(*tiny_overrides(task), *GPU, "run_id=gpu")
    try:
        metrics = run(cfg)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in OWN_PACKAGES:
            raise
        pytest.skip(f"task={task} needs {error.name}, not installed")
    written = json.loads((Path(cfg.paths.runs) / cfg.task.name / cfg.norm.name / "gpu" / "metrics.json").read_text())
    assert written["status"] == "finished"
    assert written["config"]["trainer"]["accelerator"] == "gpu"
    assert cfg.task.main_metric in metrics and all(value == value for value in metrics.values())  # no NaN


def test_cls_on_cuda_computes_what_the_cpu_computes(make_config):
    """Same seed, data and float32: the mean training loss of two steps agrees with the CPU's (TF32
    convolutions and cuDNN's algorithms differ in the last bits only)."""
    shared = [*tiny_overrides("cls"), "trainer.precision=32-true"]
    cpu = run(make_config(*shared))
    gpu = run(make_config(*shared, *GPU, "trainer.precision=32-true"))
    assert gpu["train/loss"] == pytest.approx(cpu["train/loss"], rel=2e-2)
    assert gpu["time/epoch_s"] > 0


@pytest.mark.parametrize("options", [["trainer.channels_last=true"], ["trainer.compile=true"],
                                     ["trainer.compile=true", "trainer.channels_last=true"]])
def test_cls_trains_with_the_speed_options_on_cuda(make_config, options):
    metrics = run(make_config(*tiny_overrides("cls"), *GPU, *options))
    assert metrics["train/loss"] == metrics["train/loss"]  # trained, no NaN


def test_batches_are_served_from_the_gpu_as_a_dataloader_serves_them():
    dataset = TensorDataset(torch.randn(37, 3, 4, 4), torch.arange(37))
    reference = DataLoader(dataset, batch_size=8, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(1))
    batches = TensorBatches(dataset, 8, torch.device("cuda"), drop_last=True, generator=torch.Generator().manual_seed(1))
    for (images, labels), (want_images, want_labels) in zip(batches, reference, strict=True):
        assert images.is_cuda and torch.equal(labels.cpu(), want_labels) and torch.equal(images.cpu(), want_images)


def test_divergence_guard_on_cuda_raises_at_the_check():
    guard = DivergenceGuard()
    for step, value in enumerate([1.0, float("inf"), 2.0]):
        guard.update(torch.tensor(value, device="cuda"), step)
    with pytest.raises(TrainingDiverged, match="became inf at step 1"):
        guard.check()
