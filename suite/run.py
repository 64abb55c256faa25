"""Run one configured experiment: check, seed, train and test, write the results."""
from __future__ import annotations

from omegaconf import DictConfig

from suite.config import validate
from suite.session import RunSession
from suite.tracking import batch_size


def format_results(session: RunSession) -> str:
    """A short Markdown table of a finished run's metrics."""
    cfg = session.cfg
    groups = f" (G={cfg.norm.num_groups})" if "num_groups" in cfg.norm else ""
    lines = [f"\n{cfg.task.name} | norm={cfg.norm.name}{groups} | data={cfg.data.name} | "
             f"batch={batch_size(cfg)} | seed={cfg.seed}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {value:.4f} |" for key, value in sorted(session.metrics.items())]
    lines += ["", f"results: {session.run_dir / 'metrics.json'}"]
    return "\n".join(lines)


def run(cfg: DictConfig) -> dict[str, float]:
    """Validate `cfg`, then let its task train and evaluate inside a `RunSession`."""
    task = validate(cfg)
    import pytorch_lightning as pl  # here, not at the top: bad input is refused before Lightning loads

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    with RunSession(cfg) as session:
        metrics = task.run(cfg, session)
    if session.writes:
        print(format_results(session))
    return metrics
