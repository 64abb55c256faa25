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
from suite.errors import DIVERGED, Interrupted, UserError
from suite.run import run

# Exit codes (README "Exit codes and statuses"): 0 finished, 1 failed (a bug: traceback),
# 2 bad input (one line, nothing made), 3 diverged (one line), 128 + N interrupted by signal N.
EXIT_BAD_INPUT, EXIT_DIVERGED = 2, 3


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _hydra_app(cfg: DictConfig) -> None:
    run(cfg)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if {"-m", "--multirun"} & set(argv):
        sys.argv = [sys.argv[0], *argv]
        _hydra_app()
        return 0
    try:
        run(compose_config(argv))
    except UserError as error:
        print(f"normsuite: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DIVERGED as error:
        print(f"normsuite: diverged: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_DIVERGED
    except Interrupted as interrupted:
        print(f"normsuite: interrupted: {interrupted}; checkpoint written, the same command continues it "
              f"(resume=auto)", file=sys.stderr)
        return 128 + interrupted.signum
    return 0
