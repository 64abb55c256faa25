"""The dependency direction norms (torch only) <- suite <- tasks, read from the source's imports."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_packages(path: Path, module_level_only: bool = False) -> set[str]:
    """Top-level names of the absolute imports in `path`: all of them, or those that run on import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", sources("suite"), ids=lambda path: str(path.relative_to(ROOT)))
def test_suite_never_imports_tasks(path):
    assert "tasks" not in imported_packages(path), (
        f"{path.relative_to(ROOT)} imports tasks: suite reaches plug-ins only through its registries "
        f"(configs/plugins.yaml)")


@pytest.mark.parametrize("path", sources("norms"), ids=lambda path: str(path.relative_to(ROOT)))
def test_norms_imports_only_torch_and_the_standard_library(path):
    """On import; a function may import an optional library it recognises layers of (timm's LayerNorm2d).

    norms/kernels/ may import triton, which torch's CUDA wheels ship and require: `import norms` loads those
    modules only for CUDA tensors (test_import_norms_loads_nothing_beyond_torch checks that)."""
    allowed = {"torch", "norms", "__future__"} | ({"triton"} if "kernels" in path.relative_to(ROOT).parts else set())
    third_party = imported_packages(path, module_level_only=True) - set(sys.stdlib_module_names) - allowed
    assert not third_party, f"{path.relative_to(ROOT)} imports {sorted(third_party)}: norms depends on torch only"


def test_tasks_reach_suite_through_the_plugin_declaration():
    from suite.registry import load_plugins
    from suite.task import TASKS

    assert "tasks" in load_plugins()
    assert set(TASKS.names()) >= {"cls", "nas", "adv", "fsl", "uda"}


def test_import_norms_loads_nothing_beyond_torch():
    """Modules `import norms` adds to those `import torch` loads: norms' own and the standard library's."""
    script = ("import sys, torch; before = set(sys.modules); import norms; "
              "print('\\n'.join(sorted(set(sys.modules) - before)))")
    added = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    foreign = {name for name in added if name.split(".")[0] not in {"norms", *sys.stdlib_module_names}}
    assert not foreign, f"import norms loads {sorted(foreign)}"


def test_import_suite_cli_loads_no_training_library():
    """Lightning (with torchmetrics and torchvision), timm and wandb load when a run trains, so bad input is
    refused, and `--help` answers, without paying for them (issue #12, item 5)."""
    heavy = ("pytorch_lightning", "lightning_fabric", "torchmetrics", "torchvision", "timm", "wandb", "monai")
    script = f"import sys, suite.cli; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert not loaded, f"import suite.cli loads {loaded}"
