"""A run's lifetime: its directory (locked), W&B run, trainers, checkpoints, signals and metrics.json.

Statuses in metrics.json: ``running`` (written at the start: a run killed outright keeps it),
``finished``, ``failed``, ``diverged`` (the loss stopped being finite), ``interrupted`` (SIGTERM or
SIGINT: a checkpoint was written). ``resume=auto`` continues an unfinished run named by ``run_id=``
from its newest checkpoint; every earlier attempt's end is listed under ``interruptions``.
"""
from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from suite.resume import DONE, LAST, StopRequest, finished_phase_metrics
from suite.distributed import global_batch_size, global_rank, processes_share, shared_run_id, world_size
from suite.errors import DIVERGED, Interrupted
from suite.memory import PeakMemory
from suite.locks import run_lock
from suite.results import package_versions, read_metrics, run_directory, write_json_atomic
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
        self.run_dir = run_directory(cfg, self.run_id)
        self.metrics: dict[str, float] = {}
        self.history: dict[str, list[dict]] = {}  # per phase, each epoch's metrics (suite.history)
        self.artifacts: dict[str, str] = {}
        self.interruptions: list[dict] = []
        self.logger = None
        self.peak_memory_source: str | None = None  # suite.memory: cuda_max_allocated or cpu_rss_sampled
        self.stop = StopRequest()
        self._lock = run_lock(self.run_dir, self.run_id)

    def __enter__(self) -> "RunSession":
        self._started = time.time()
        self._processes.__enter__()
        if self.writes:
            self._lock.__enter__()
            if self.cfg.resume == "never":
                shutil.rmtree(self.run_dir / "checkpoints", ignore_errors=True)
            self._continue_previous_attempt()
            OmegaConf.save(self.cfg, self.run_dir / "config.yaml", resolve=True)
            self._memory = PeakMemory().start()  # the writing process's own peak (suite.memory)
            self.write_results("running")
            self.logger = build_wandb_logger(self.cfg, self.run_id, self.run_dir)
        try:
            self.stop.__enter__()
        except ValueError:  # not the main thread: signals stay with whoever owns them
            pass
        return self

    def _continue_previous_attempt(self) -> None:
        """With ``resume=auto``, take over the metrics, artifacts and interruptions of the run's
        earlier attempt, and note how that attempt ended."""
        path = self.run_dir / "metrics.json"
        if self.cfg.resume != "auto" or not path.is_file():
            return
        previous = read_metrics(path)  # validated before (suite.preflight.check_run_directory)
        self.metrics.update(previous.get("metrics", {}))
        self.artifacts.update(previous.get("artifacts", {}))
        self.interruptions = [*previous.get("interruptions", []), {
            "status": "killed" if previous["status"] == "running" else previous["status"],
            "error": previous.get("error"), "wall_time_s": previous.get("wall_time_s")}]

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            self.stop.__exit__()
            if self.writes:
                self._finish(exc_type, exc)
        finally:
            self._processes.__exit__(None, None, None)
            if self.writes:
                self._lock.__exit__()

    def _finish(self, exc_type, exc) -> None:
        failed = exc is not None
        status = ("finished" if not failed else "diverged" if isinstance(exc, DIVERGED)
                  else "interrupted" if isinstance(exc, Interrupted) else "failed")
        memory, self.peak_memory_source = self._memory.stop()
        self.record(memory)
        self.write_results(status, error=f"{exc_type.__name__}: {exc}" if failed else None)
        if self.logger is not None:
            import wandb

            if self.metrics:
                self.with_wandb(lambda run: run.summary.update(self.metrics))
            self.logger.call(wandb.finish, exit_code=1 if failed else 0)

    @property
    def wandb_run(self):
        """The live W&B run, or None when logging is disabled (or W&B failed and is off)."""
        return None if self.logger is None or self.logger.off else self.logger.experiment

    def with_wandb(self, action) -> None:
        """``action(run)`` with the live W&B run, if any: a W&B failure is a warning, never the run's end
        (`suite.wandb_logger.ResilientWandbLogger`)."""
        if self.wandb_run is not None:
            self.logger.call(lambda: action(self.logger.experiment))

    def _wandb_url(self) -> str | None:
        return None if self.logger is None else self.logger.call(lambda: getattr(self.wandb_run, "url", None))

    def checkpoint_dir(self, phase: str) -> Path:
        return self.run_dir / "checkpoints" / phase

    def trainer(self, phase: str = "fit", checkpoints: bool = True, **overrides):
        """A Lightning Trainer for one phase; its `RunCheckpoint` writes ``checkpoints/<phase>/last.ckpt``
        (``checkpoints=False``: none, for a phase that cannot resume; signals still stop it)."""
        # Lightning loads when a run trains, not at `import suite.cli`.
        from suite import weight_standardization
        from suite.checkpoints import RunCheckpoint
        from suite.engine import build_trainer

        cfg = self.cfg.trainer
        checkpoint = RunCheckpoint(self.checkpoint_dir(phase), cfg.get("checkpoint_every_min"), self.stop,
                                   save=bool(cfg.checkpoint and checkpoints), keep_optimizer=cfg.get("keep_checkpoints"))
        return build_trainer(cfg, self.checkpoint_dir(phase), self.logger,
                             callbacks=[*weight_standardization.callbacks(self.cfg.model), checkpoint], **overrides)

    def resume_path(self, phase: str) -> str | None:
        """The checkpoint a phase continues from: ``resume=PATH`` (for the phase named by its folder,
        or for every phase when the folder names none), with ``resume=auto`` the phase's own
        ``last.ckpt`` from an earlier attempt of this run, with ``never`` none."""
        resume = self.cfg.resume
        if resume in (None, "never"):
            return None
        if resume != "auto":
            return resume if phase in ("fit", Path(resume).parent.name) else None
        path = self.checkpoint_dir(phase) / LAST
        return str(path) if path.is_file() else None

    def phase_done(self, phase: str) -> bool:
        """This run finished `phase` in an earlier attempt (its checkpoint holds the final weights)."""
        return self.cfg.resume == "auto" and (self.checkpoint_dir(phase) / DONE).is_file()

    def fit_and_test(self, module, datamodule, phase: str = "fit", **trainer_overrides) -> dict[str, float]:
        """Train (continuing from `resume_path`), test the final weights, record both. A phase that an
        earlier attempt finished is not trained again: its final weights are loaded and tested, and the
        metrics its training ended with recorded. What earlier phases recorded (nas's search) is saved
        to metrics.json first, so that a run killed in this phase does not redo them."""
        from suite.checkpoints import RunCheckpoint
        from suite.history import read_history

        if self.writes:
            self.write_results("running")
        trainer = self.trainer(phase, **trainer_overrides)
        final_weights = None
        if self.phase_done(phase):
            # Loaded by the test, after the trainer's setup hooks, which may change the module's layout as
            # they did when it was saved (trainer.norm_batch_size wraps its norms: suite.norm_batch).
            final_weights = str(self.checkpoint_dir(phase) / LAST)
            fitted = self.record(finished_phase_metrics(self.checkpoint_dir(phase)))
        else:
            trainer.fit(module, datamodule=datamodule, ckpt_path=self.resume_path(phase))
            fitted = self.record(RunCheckpoint.of(trainer).fit_metrics)
        self.history[phase] = read_history(self.checkpoint_dir(phase))
        trainer.test(module, datamodule=datamodule, verbose=False, ckpt_path=final_weights)
        return {**fitted, **self.record(_as_floats(trainer.callback_metrics))}

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
            "wandb_url": self._wandb_url(),  # None offline (the run directory is the link) or without W&B
            "batch_axis": cfg.task.batch_axis,
            "world_size": world_size(cfg.trainer),
            "global_batch_size": global_batch_size(cfg, batch_size(cfg)),
            "seed": cfg.seed,
            "data": cfg.data.name,
            "main_metric": cfg.task.main_metric,
            "metrics": self.metrics,
            "history": self.history,
            "interruptions": self.interruptions,
            "artifacts": self.artifacts,
            "config": OmegaConf.to_container(cfg, resolve=True),
            "versions": package_versions(),
            "wall_time_s": round(time.time() - self._started, 3),
            "peak_memory_source": self.peak_memory_source,
        }
        path = self.run_dir / "metrics.json"
        write_json_atomic(path, payload)
        return path
