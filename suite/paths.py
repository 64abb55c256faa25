"""Where the suite's files live: the Hydra config tree (the menu of tasks, norms, data, ...)."""
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
