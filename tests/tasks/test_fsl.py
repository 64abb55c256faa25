"""Task fsl end to end on digits and on a fake miniImageNet in learn2learn's on-disk format."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from suite.errors import UserError
from suite.config import CONFIG_DIR, validate
from suite.run import run

SHORT = ["task=fsl", "task.train_episodes=30", "task.val_episodes=5", "task.test_episodes=40",
         "task.query_shots=5", "task.test_query_shots=5", "data.image_size=16", "model.channels=16"]


def write_fake_mini_imagenet(root, size=16, per_class=12):
    """learn2learn's pickles: {"image_data": uint8 (N, H, W, 3), "class_dict": {wnid: [indices]}}.
    Each class is a random template plus noise; splits have 8/4/4 classes of their own."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for mode, classes in (("train", 8), ("validation", 4), ("test", 4)):
        templates = rng.uniform(0, 255, size=(classes, 1, size, size, 3))
        images = templates + rng.normal(0, 40, size=(classes, per_class, size, size, 3))
        class_dict = {f"n{mode}{c:02d}": list(range(c * per_class, (c + 1) * per_class)) for c in range(classes)}
        data = {"image_data": images.clip(0, 255).astype(np.uint8).reshape(-1, size, size, 3), "class_dict": class_dict}
        with open(root / f"mini-imagenet-cache-{mode}.pkl", "wb") as file:
            pickle.dump(data, file)


def test_digits_run_learns_and_reports_ci(make_config):
    cfg = make_config(*SHORT, "norm=bgn", "task.shots=1")
    metrics = run(cfg)
    assert metrics["test/acc"] > 0.5, "4-way chance is 0.25"
    assert 0.0 < metrics["test/acc_ci95"] < 0.1
    assert metrics["test/episodes"] == 40
    assert {"train/loss", "train/acc", "val/acc"} <= metrics.keys()
    results = json.loads(next(Path(cfg.paths.runs).rglob("metrics.json")).read_text())
    assert results["status"] == "finished" and results["config"]["task"]["eval_norm_mode"] == "running"


def test_fake_mini_imagenet_above_chance_in_episode_mode(make_config, tmp_path):
    root = tmp_path / "mini"
    write_fake_mini_imagenet(root)
    cfg = make_config(*SHORT, "norm=bn", "data=mini_imagenet", f"data.root={root}", "data.download=false",
                      "data.num_workers=0", "task.train_ways=6",
                      "task.tasks_per_step=2", "task.eval_norm_mode=episode")
    metrics = run(cfg)
    assert metrics["test/acc"] > 0.5


@pytest.mark.parametrize("override, message", [
    ("task.train_ways=7", "7-way episodes need 7 classes but the digits train split has 6: lower task.train_ways"),
    ("task.test_query_shots=40",
     r"5 shots \+ 40 queries .* exceed the \d+ examples of class \d in the digits val split: lower task.test_shots or"),
    ("task.distance=manhattan", "unknown task.distance 'manhattan': choose one of euclidean, cosine"),
    ("task.eval_norm_mode=batch", "unknown task.eval_norm_mode 'batch'"),
    ("task.test_ways=1", "task.test_ways=1: an episode needs at least 2 classes"),
    ("task.test_episodes=1", "task.test_episodes must be at least 2"),
    ("task.digits.test_classes=[5,6]", "must be disjoint sets of digits 0-9"),
    ("model.name=vgg", "unknown few-shot backbone model.name='vgg'"),
    ("data=cifar10", "data=cifar10 has no few-shot class splits"),
])
def test_bad_input_is_a_clear_error(make_config, override, message):
    with pytest.raises(UserError, match=message):
        run(make_config("task=fsl", override))


@pytest.mark.parametrize("experiment", sorted(path.stem for path in CONFIG_DIR.glob("experiment/fsl_*.yaml")))
def test_presets_compose_and_validate(make_config, experiment):
    cfg = make_config("task=fsl", f"experiment={experiment}")
    validate(cfg)
    assert cfg.task.test_episodes >= 600 and cfg.task.train_ways >= cfg.task.test_ways
