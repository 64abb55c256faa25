"""benchmarks/loop.py: the bare loop trains the configured model; the table and its README section."""
import pytest

from benchmarks import loop as benchmark


def test_bare_loop_learns_the_configured_task():
    overrides = [*benchmark.suite_overrides("cpu", epochs=2), "model.name=resnet10t", "data.image_size=16"]
    figures = benchmark.bare_loop(overrides, "cpu")
    assert figures["val/acc"] > 0.5  # chance is 0.1
    assert 0 < figures["time/epoch_cpu_s"] and 0 < figures["time/epoch_s"] < figures["time/first_step_s"] + 600


def test_table_gives_each_loop_its_ratio_to_the_bare_loop(tmp_path):
    def run(epoch, cpu, startup):
        return {"time/epoch_s": epoch, "time/epoch_cpu_s": cpu, "time/first_step_s": startup}

    results = {"suite": [run(1.1, 2.2, 9.0), run(1.3, 2.6, 11.0), run(1.2, 2.4, 10.0)],
               "bare": [run(1.0, 2.0, 4.0), run(0.9, 2.0, 5.0), run(1.1, 2.0, 6.0)]}
    table = benchmark.markdown_table(results, "cpu", threads=1, epochs=3, extra=[])
    assert "| suite | 1.20 (1.10–1.30) | 1.20x | 2.40 (2.20–2.60) | 1.20x | 10.00 (9.00–11.00) |" in table
    assert "| bare | 1.00 (0.90–1.10) | 1.00x | 2.00 (2.00–2.00) | 1.00x | 5.00 (4.00–6.00) |" in table
    assert "`python -m benchmarks.loop --device cpu --runs 3 --threads 1 --epochs 3`" in table  # how to redo it
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- bench:loop:cpu:start -->\nold\n<!-- bench:loop:cpu:end -->\nb\n")
    benchmark.write_readme(readme, "cpu", table)
    assert readme.read_text() == f"a\n<!-- bench:loop:cpu:start -->\n{table}\n<!-- bench:loop:cpu:end -->\nb\n"
