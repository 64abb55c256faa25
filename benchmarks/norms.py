"""Forward+backward time of every registered norm against nn.BatchNorm2d, in training mode.

    python -m benchmarks.norms [--device cpu|cuda] [--repeats 50] [--write-readme README.md]

CPU: (32, 64, 32, 32) float32. CUDA: the four shapes of issue #12, (32, 64, 32, 32), (64, 256, 56, 56),
(128, 512, 14, 14) and (2, 256, 56, 56), in float32 and under float16 autocast (float16 input, float32
parameters, as after a convolution under autocast). Every norm of the registry is built with its defaults.
For each shape and precision all layers are timed in one process, interleaved round by round (so load
changes hit them alike) after a warm-up, the device synchronized around each pass; the table reports the
median per layer and its ratio to nn.BatchNorm2d measured in the same rounds. ``--write-readme``
replaces the text between ``<!-- bench:norms:<device>:start -->`` and ``<!-- bench:norms:<device>:end -->``
(device cpu or cuda), so a CPU run leaves the GPU table alone.
"""
import argparse
import pathlib
import statistics
import time

import torch
from torch import nn

import norms

BASELINE = "nn.BatchNorm2d"
SHAPES = {"cpu": [(32, 64, 32, 32)],
          "cuda": [(32, 64, 32, 32), (64, 256, 56, 56), (128, 512, 14, 14), (2, 256, 56, 56)]}
PRECISIONS = {"cpu": {"float32": None}, "cuda": {"float32": None, "float16 autocast": torch.float16}}


def time_forward_backward(layer: nn.Module, x: torch.Tensor, grad_y: torch.Tensor, autocast) -> float:
    """Seconds for one forward and backward pass, the device synchronized on both ends."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    with torch.autocast(x.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        y = layer(x)
    y.backward(grad_y.to(y.dtype))
    sync()
    return time.perf_counter() - start


def measure(device: str, shape: tuple, autocast, repeats: int, warmup: int = 5) -> dict[str, float]:
    """Median milliseconds per forward+backward for nn.BatchNorm2d and every registered norm."""
    channels = shape[1]
    layers = {BASELINE: nn.BatchNorm2d(channels)} | {name: norms.build(name, channels) for name in norms.available()}
    layers = {name: layer.to(device).train() for name, layer in layers.items()}
    x = torch.randn(shape, device=device, dtype=autocast or torch.float32, requires_grad=True)
    grad_y = torch.randn(shape, device=device)
    times = {name: [] for name in layers}
    for round_index in range(warmup + repeats):
        for name, layer in layers.items():
            elapsed = time_forward_backward(layer, x, grad_y, autocast)
            if round_index >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(samples) * 1e3 for name, samples in times.items()}


def device_label(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"cpu, {torch.get_num_threads()} threads"


def markdown_table(results: dict[tuple[tuple, str], dict[str, float]], device: str) -> str:
    """``results[(shape, precision)][layer] = ms`` as one table, with the device and torch version."""
    lines = [
        f"Forward+backward, training mode, median of interleaved runs (`python -m benchmarks.norms --device "
        f"{device}`) on {device_label(device)}, torch {torch.__version__}.",
        "",
        f"| shape | precision | norm | ms per fwd+bwd | ratio vs {BASELINE} |",
        "|---|---|---|---:|---:|",
    ]
    for (shape, precision), milliseconds in results.items():
        baseline = milliseconds[BASELINE]
        for name, ms in milliseconds.items():
            lines.append(f"| {tuple(shape)} | {precision} | {name} | {ms:.2f} | {ms / baseline:.2f}x |")
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
    results = {(shape, precision): measure(args.device, shape, autocast, args.repeats)
               for shape in SHAPES[args.device] for precision, autocast in PRECISIONS[args.device].items()}
    table = markdown_table(results, args.device)
    print(table)
    if args.write_readme:
        write_readme(args.write_readme, args.device, table)


if __name__ == "__main__":
    main()
