"""The suite's training loop against a bare PyTorch loop: seconds per epoch and launch to first step.

    python -m benchmarks.loop [--device cpu|cuda] [--runs 5] [--epochs 3] [--threads N]
                              [--write-readme README.md] [-- extra suite overrides, e.g. trainer.compile=true]

Both loops train ``task=cls`` as configured by default (resnet18 on digits at 40 px, batch 32, SGD with
Nesterov momentum and the per-step cosine schedule, seed 0), each in a fresh process, interleaved run by
run (so load changes on a shared machine hit both alike):

- **suite**: ``python -m suite task=cls logger.mode=disabled trainer.checkpoint=false ...`` (on cuda
  ``trainer=gpu``: fp16 autocast); its figures are the ``time/epoch_s`` and ``time/first_step_s``
  metrics of its metrics.json (`suite.timing.LoopTimer`).
- **bare**: this file's `bare_loop` in a child process: the same model, data split, optimizer,
  schedule, seed and shuffling, the images kept as one tensor on the device, a plain Python loop.

An epoch is its training steps plus the validation pass (the suite validates every epoch); each run
reports its last epoch (the first carries one-off warm-up costs), and the table gives the median over
runs with the range. Startup is launch to the first training step. ``--write-readme`` replaces the text
between ``<!-- bench:loop:<device>:start -->`` and ``<!-- bench:loop:<device>:end -->``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPS = ("suite", "bare")


def suite_overrides(device: str, epochs: int) -> list[str]:
    """The overrides both loops are configured with."""
    hardware = ["trainer=gpu"] if device == "cuda" else ["trainer.accelerator=cpu"]
    return ["task=cls", "logger.mode=disabled", "trainer.checkpoint=false", "trainer.enable_progress_bar=false",
            f"trainer.max_epochs={epochs}", *hardware]


def bare_loop(overrides: list[str], device: str) -> dict[str, float]:
    """Train the configured cls model with a plain loop; wall and CPU seconds of the last epoch, seconds
    from launch to the first step, and the last validation accuracy.

    Imports only what the loop needs (torch, timm through `suite.models`, the data builders, Hydra's
    compose for the same config), not Lightning.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    from suite.config import compose_config
    from suite.data import build_splits
    from suite.models import InputNormalization, build_timm_model
    from suite.optim import build_optimizer, cosine_with_warmup

    cfg = compose_config(overrides)
    torch.manual_seed(cfg.seed)
    splits = build_splits(cfg.data)
    model = nn.Sequential(InputNormalization(splits.mean, splits.std),
                          build_timm_model(cfg.model, cfg.norm, splits.in_channels, splits.num_classes)).to(device)
    train_images, train_labels = (tensor.to(device) for tensor in splits.train.tensors)
    val_images, val_labels = (tensor.to(device) for tensor in splits.val.tensors)
    batch, steps_per_epoch = cfg.data.batch_size, len(train_labels) // cfg.data.batch_size
    total_steps = steps_per_epoch * cfg.trainer.max_epochs
    optimizer = build_optimizer(model, cfg.task.optim, batch)
    schedule = cosine_with_warmup(optimizer, total_steps, int(cfg.task.optim.warmup_fraction * total_steps))
    mixed = device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=mixed)
    generator = torch.Generator().manual_seed(cfg.seed)
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    first_step_s = None
    for _ in range(cfg.trainer.max_epochs):
        synchronize()
        started, started_cpu = time.perf_counter(), time.process_time()
        if first_step_s is None:
            first_step_s = time.time() - launched_at()
        model.train()
        order = torch.randperm(len(train_labels), generator=generator).to(device)
        images, labels = train_images[order], train_labels[order]
        for step in range(steps_per_epoch):
            chunk = slice(step * batch, (step + 1) * batch)
            with torch.autocast(device, dtype=torch.float16, enabled=mixed):
                loss = F.cross_entropy(model(images[chunk]), labels[chunk])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
        model.eval()
        correct = torch.zeros((), device=device)
        with torch.inference_mode(), torch.autocast(device, dtype=torch.float16, enabled=mixed):
            for chunk in torch.arange(len(val_labels), device=device).split(cfg.data.eval_batch_size):
                correct += (model(val_images[chunk]).argmax(1) == val_labels[chunk]).sum()
        synchronize()
        epoch_s, epoch_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    return {"time/first_step_s": first_step_s, "time/epoch_s": epoch_s, "time/epoch_cpu_s": epoch_cpu_s,
            "val/acc": correct.item() / len(val_labels)}


def launched_at() -> float:
    """This process's launch time (seconds since the epoch)."""
    import psutil

    return psutil.Process().create_time()


def run_once(loop: str, overrides: list[str], device: str, env: dict, workdir: Path, index: int) -> dict[str, float]:
    """One fresh process of `loop`; its figures (``time/epoch_s``, ``time/first_step_s``, ``val/acc``)."""
    if loop == "bare":
        command = [sys.executable, "-m", "benchmarks.loop", "--child-bare", "--device", device, "--", *overrides]
    else:
        command = [sys.executable, "-m", "suite", *overrides, f"paths.runs={workdir}", f"run_id=loop-{index}"]
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({finished.returncode}):\n{finished.stderr[-3000:]}")
    if loop == "bare":
        return json.loads(finished.stdout.strip().splitlines()[-1])
    return json.loads((workdir / "cls" / "bn" / f"loop-{index}" / "metrics.json").read_text())["metrics"]


def measure(device: str, runs: int, epochs: int, threads: int, extra: list[str]) -> dict[str, list[dict]]:
    """Figures of `runs` interleaved runs per loop (the order alternates run by run)."""
    overrides = [*suite_overrides(device, epochs), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
    results: dict[str, list[dict]] = {loop: [] for loop in LOOPS}
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as workdir:
        for index in range(runs):
            for loop in (LOOPS if index % 2 == 0 else LOOPS[::-1]):
                figures = run_once(loop, overrides, device, env, Path(workdir), index)
                results[loop].append(figures)
                print(f"run {index} {loop}: epoch {figures['time/epoch_s']:.2f} s "
                      f"(CPU {figures['time/epoch_cpu_s']:.2f} s), first step {figures['time/first_step_s']:.2f} s",
                      file=sys.stderr)
    return results


def device_label(device: str, threads: int) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {threads} threads"


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} ({min(samples):.2f}–{max(samples):.2f})"


def markdown_table(results: dict[str, list[dict]], device: str, threads: int, epochs: int, extra: list[str]) -> str:
    import torch

    def figures(key: str) -> dict[str, list[float]]:
        return {loop: [run[key] for run in runs] for loop, runs in results.items()}

    def ratio(samples: dict[str, list[float]], loop: str) -> str:
        return f"{statistics.median(samples[loop]) / statistics.median(samples['bare']):.2f}x"

    wall, cpu, startup = figures("time/epoch_s"), figures("time/epoch_cpu_s"), figures("time/first_step_s")
    options = " ".join(extra)
    lines = [
        f"`task=cls` defaults (resnet18, digits 40 px, batch 32){f', `{options}`' if options else ''}: "
        f"median (range) of {len(wall['bare'])} interleaved runs, each its own process, the last of "
        f"{epochs} epochs (training + validation); `python -m benchmarks.loop --device {device} --runs "
        f"{len(wall['bare'])} --threads {threads} --epochs {epochs}`.",
        "",
        "| loop | s per epoch | ratio vs bare | CPU s per epoch | ratio vs bare | launch to first step, s | device | torch |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for loop in LOOPS:
        lines.append(f"| {loop} | {spread(wall[loop])} | {ratio(wall, loop)} | {spread(cpu[loop])} | "
                     f"{ratio(cpu, loop)} | {spread(startup[loop])} | {device_label(device, threads)} | "
                     f"{torch.__version__} |")
    return "\n".join(lines)


def write_readme(path: Path, device: str, table: str) -> None:
    from suite.tables import replace_section

    start, end = f"<!-- bench:loop:{device}:start -->", f"<!-- bench:loop:{device}:end -->"
    path.write_text(replace_section(path.read_text(), start, end, table))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP_NUM_THREADS of both loops")
    parser.add_argument("--write-readme", type=Path, metavar="README.md")
    parser.add_argument("--child-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="extra suite overrides for both loops (after --)")
    args = parser.parse_args(argv)
    if args.child_bare:
        print(json.dumps(bare_loop(args.overrides, args.device)))
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda needs a CUDA device; run with --device cpu")
    if args.runs < 1 or args.epochs < 2:
        parser.error("--runs must be >= 1 and --epochs >= 2 (the first epoch carries warm-up costs)")
    results = measure(args.device, args.runs, args.epochs, args.threads, args.overrides)
    table = markdown_table(results, args.device, args.threads, args.epochs, args.overrides)
    print(table)
    if args.write_readme:
        write_readme(args.write_readme, args.device, table)


if __name__ == "__main__":
    main()
