"""The run's W&B logger: Lightning's `WandbLogger`, except that a W&B failure never stops the run."""
from __future__ import annotations

import logging
from typing import Any, Callable

from pytorch_lightning.loggers import WandbLogger

log = logging.getLogger("suite.tracking")


def one_line(error: BaseException) -> str:
    """An error's message on one line, cut at 300 characters (W&B's can be long tracebacks)."""
    return " ".join(f"{type(error).__name__}: {error}".split())[:300]


class ResilientWandbLogger(WandbLogger):
    """`WandbLogger` through whose `call` every call into W&B goes: Lightning's (metrics, hyper-parameters,
    finalize) and the suite's (`suite.session.RunSession.with_wandb`: summaries, tables, pictures).

    The first failure (the network, the server, the wandb-core service gone, a full disk) is one warning
    line; an online run then continues offline, in a fresh offline W&B run under the same id (``wandb
    sync`` uploads it), and a failure offline turns W&B off for the rest of the run. metrics.json gets
    every metric either way (`suite.session`).
    """

    def __init__(self, *args, mode: str, **kwargs):
        super().__init__(*args, mode=mode, **kwargs)
        self.mode = mode
        self.off = False

    def call(self, action: Callable[..., Any], *args, **kwargs) -> Any:
        """``action(*args, **kwargs)``; None when W&B is off or the call fails."""
        if self.off:
            return None
        try:
            return action(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - any W&B failure: warn and carry on without it
            self._failed(error)
            return None

    def _failed(self, error: Exception) -> None:
        offline = self.mode != "offline" and self._finished_run()
        log.warning("W&B (%s) failed during the run, %s: %s", self.mode,
                    "logging offline instead" if offline else "logging to W&B is off for the rest of this run",
                    one_line(error))
        if not offline:
            self.off = True  # the failed run object stays: Lightning's own accesses then start no other
            return
        self.mode = self._wandb_init["mode"] = "offline"
        self._experiment = None
        self.call(lambda: self.experiment)  # starts the offline run; its failure turns W&B off

    @staticmethod
    def _finished_run() -> bool:
        """Finish the failed W&B run; whether W&B could (else it is still W&B's current run)."""
        import wandb

        try:
            wandb.finish(exit_code=1)
        except Exception:  # noqa: BLE001 - the run is broken already; the warning reports the first error
            return False
        return wandb.run is None

    def log_hyperparams(self, params) -> None:
        self.call(super().log_hyperparams, params)

    def log_metrics(self, metrics, step: int | None = None) -> None:
        self.call(super().log_metrics, metrics, step)

    def finalize(self, status: str) -> None:
        self.call(super().finalize, status)
