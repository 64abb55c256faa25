"""``python -m suite`` / ``normsuite``: Hydra overrides in, one trained and tested run out.

A single run composes the config with Hydra's compose API so that bad input is a
one-line error before training; ``-m``/``--multirun`` sweeps go through Hydra's
own app (and its launcher) with the same `run` per job.
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from suite.config import CONFIG_DIR, compose_config
from suite.errors import run_command
from suite.run import run

@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _hydra_app(cfg: DictConfig) -> None:
    run(cfg)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if {"-m", "--multirun"} & set(argv):
        sys.argv = [sys.argv[0], *argv]
        _hydra_app()
        return 0
    return run_command("normsuite", lambda: run(compose_config(argv)),
                       "checkpoint written, the same command continues it (resume=auto)")
