"""Forward+backward time of every registered norm against nn.BatchNorm2d, at (32, 64, 32, 32) float32.

    python -m benchmarks.norms [--device cpu|cuda] [--repeats 50] [--write-readme README.md]

All layers are timed in one process, interleaved round by round (so load changes hit them alike) after a
warm-up; the table reports the median per layer. ``--write-readme`` replaces the text between
``<!-- bench:norms:<device>:start -->`` and ``<!-- bench:norms:<device>:end -->`` (device cpu or cuda),
so a CPU run leaves the GPU table alone.
"""
import argparse
import pathlib
import statistics
import time

import torch
from torch import nn

import norms

SHAPE = (32, 64, 32, 32)
BASELINE = "nn.BatchNorm2d"


def time_forward_backward(layer: nn.Module, x: torch.Tensor, grad_y: torch.Tensor) -> float:
    """Seconds for one forward and backward pass, the device synchronized on both ends."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    layer(x).backward(grad_y)
    sync()
    return time.perf_counter() - start


def measure(device: str, repeats: int, warmup: int = 5) -> dict[str, float]:
    """Median milliseconds per forward+backward for nn.BatchNorm2d and every registered norm."""
    layers = {BASELINE: nn.BatchNorm2d(SHAPE[1])} | {name: norms.build(name, SHAPE[1]) for name in norms.available()}
    layers = {name: layer.to(device).train() for name, layer in layers.items()}
    x = torch.randn(SHAPE, device=device, requires_grad=True)
    grad_y = torch.randn(SHAPE, device=device)
    times = {name: [] for name in layers}
    for round_index in range(warmup + repeats):
        for name, layer in layers.items():
            elapsed = time_forward_backward(layer, x, grad_y)
            if round_index >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(samples) * 1e3 for name, samples in times.items()}


def device_label(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"cpu, {torch.get_num_threads()} threads"


def markdown_table(milliseconds: dict[str, float], device: str) -> str:
    baseline = milliseconds[BASELINE]
    lines = [
        f"Forward+backward at {SHAPE} float32, median of interleaved runs (`python -m benchmarks.norms`).",
        "",
        f"| norm | ms per fwd+bwd | ratio vs {BASELINE} | device | torch |",
        "|---|---:|---:|---|---|",
    ]
    for name, ms in milliseconds.items():
        lines.append(f"| {name} | {ms:.2f} | {ms / baseline:.2f}x | {device_label(device)} | {torch.__version__} |")
    return "\n".join(lines)


def write_readme(path: pathlib.Path, device: str, table: str) -> None:
    """Replace the text between this device's marker lines in ``path``; ValueError if they are missing."""
    start, end = f"<!-- bench:norms:{device}:start -->", f"<!-- bench:norms:{device}:end -->"
    text = path.read_text()
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{path} needs exactly one line {start!r} followed by one line {end!r}; add them "
                         f"where the {device} benchmark table should go")
    before, rest = text.split(start)
    after = rest.split(end)[1]
    path.write_text(f"{before}{start}\n{table}\n{end}{after}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--write-readme", type=pathlib.Path, metavar="README.md")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA device; run with --device cpu")
    table = markdown_table(measure(args.device, args.repeats), args.device)
    print(table)
    if args.write_readme:
        write_readme(args.write_readme, args.device, table)


if __name__ == "__main__":
    main()
