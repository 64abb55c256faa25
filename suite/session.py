"""A run's lifetime: its directory, W&B run, trainers and metrics.json."""
from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from suite.distributed import global_batch_size, global_rank, processes_share, shared_run_id, world_size
from suite.errors import DIVERGED
from suite.memory import PeakMemory
from suite.results import package_versions, write_json_atomic
from suite.tracking import batch_size, build_wandb_logger


def new_run_id() -> str:
    """Sortable and unique: ``YYYYmmdd-HHMMSS-<6 hex>``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _as_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items()}


class RunSession:
    """One run of one task, in ``<paths.runs>/<task>/<norm>/<run-id>/``.

    Used as a context manager: on exit it writes metrics.json (``status`` finished, or
    failed with the error and every metric recorded so far) and finishes the W&B run,
    also when the task crashes, so finished results are never lost. Under DDP every
    process has a session with the same run id; only rank 0's writes anything.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.run_id = cfg.run_id or shared_run_id(cfg.trainer) or new_run_id()
        self.writes = global_rank(cfg.trainer) == 0
        self._processes = processes_share(self.run_id, cfg.trainer)
        self.run_dir = Path(cfg.paths.runs) / cfg.task.name / cfg.norm.name / self.run_id
        self.metrics: dict[str, float] = {}
        self.artifacts: dict[str, str] = {}
        self.logger = None
        self.peak_memory_source: str | None = None  # suite.memory: cuda_max_allocated or cpu_rss_sampled

    def __enter__(self) -> "RunSession":
        self._started = time.time()
        self._processes.__enter__()
        if self.writes:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.cfg, self.run_dir / "config.yaml", resolve=True)
            self._memory = PeakMemory().start()  # the writing process's own peak (suite.memory)
            self.logger = build_wandb_logger(self.cfg, self.run_id, self.run_dir)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if self.writes:
                self._finish(exc_type, exc)
        finally:
            self._processes.__exit__(None, None, None)

    def _finish(self, exc_type, exc) -> None:
        failed = exc is not None
        status = "finished" if not failed else "diverged" if isinstance(exc, DIVERGED) else "failed"
        memory, self.peak_memory_source = self._memory.stop()
        self.record(memory)
        self.write_results(status, error=f"{exc_type.__name__}: {exc}" if failed else None)
        if self.logger is not None:
            import wandb

            if self.metrics:
                self.logger.experiment.summary.update(self.metrics)
            wandb.finish(exit_code=1 if failed else 0)

    @property
    def wandb_run(self):
        """The live W&B run, or None when logging is disabled."""
        return None if self.logger is None else self.logger.experiment

    def trainer(self, phase: str = "fit", **overrides):
        """A Lightning Trainer whose checkpoints go to ``checkpoints/<phase>/``."""
        # Lightning loads when a run trains, not at `import suite.cli`.
        from suite import weight_standardization
        from suite.engine import build_trainer

        return build_trainer(self.cfg.trainer, self.run_dir / "checkpoints" / phase, self.logger,
                             callbacks=weight_standardization.callbacks(self.cfg.model), **overrides)

    def fit_and_test(self, module, datamodule, phase: str = "fit", **trainer_overrides) -> dict[str, float]:
        """Train (resuming from ``resume=PATH`` if given), test the final weights, record both."""
        trainer = self.trainer(phase, **trainer_overrides)
        trainer.fit(module, datamodule=datamodule, ckpt_path=self.cfg.resume)
        fitted = _as_floats(trainer.callback_metrics)
        trainer.test(module, datamodule=datamodule, verbose=False)
        return self.record({**fitted, **_as_floats(trainer.callback_metrics)})

    def record(self, metrics: dict[str, float]) -> dict[str, float]:
        """Add final metrics to metrics.json (and the W&B summary at exit)."""
        self.metrics.update(_as_floats(metrics))
        return metrics

    def add_artifact(self, name: str, path: Path) -> Path:
        """Note a file saved with the run (listed in metrics.json, relative to the run dir)."""
        self.artifacts[name] = str(Path(path).relative_to(self.run_dir))
        return path

    def write_results(self, status: str = "finished", error: str | None = None) -> Path:
        cfg = self.cfg
        payload = {
            "status": status,
            "error": error,
            "run_id": self.run_id,
            "task": cfg.task.name,
            "norm": cfg.norm.name,
            "num_groups": cfg.norm.get("num_groups"),
            "batch_size": batch_size(cfg),
            "norm_batch_size": OmegaConf.select(cfg, "trainer.norm_batch_size"),
            "wandb_url": getattr(self.wandb_run, "url", None),  # None offline: the run directory is the link
            "batch_axis": cfg.task.batch_axis,
            "world_size": world_size(cfg.trainer),
            "global_batch_size": global_batch_size(cfg, batch_size(cfg)),
            "seed": cfg.seed,
            "data": cfg.data.name,
            "main_metric": cfg.task.main_metric,
            "metrics": self.metrics,
            "artifacts": self.artifacts,
            "config": OmegaConf.to_container(cfg, resolve=True),
            "versions": package_versions(),
            "wall_time_s": round(time.time() - self._started, 3),
            "peak_memory_source": self.peak_memory_source,
        }
        path = self.run_dir / "metrics.json"
        write_json_atomic(path, payload)
        return path
