"""What `suite.data.DATASETS` builds for the episodic few-shot benchmarks (omniglot, mini_imagenet,
cifarfs, fc100): they have no ImageSplits. A module of its own, so that refusing them for another task
does not import learn2learn (and gym's import-time banner on stderr)."""
from suite.errors import UserError


def episodic_only(data_cfg):
    """Refuse the benchmark as a plain dataset: its classes are split for episodes only."""
    raise UserError(f"data={data_cfg.name} is a few-shot benchmark with disjoint class splits: use it with task=fsl")


episodic_only.tasks = ("fsl",)  # `suite.config.validate` refuses these datasets for every other task
