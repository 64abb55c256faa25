"""benchmarks/norms.py: the table and the README markers (timing itself is not tested)."""
import pytest
import torch

import norms
from benchmarks import norms as benchmark


def test_table_has_a_row_per_shape_precision_and_layer_with_ratio():
    results = {((2, 8, 4, 4), "float32"): {"nn.BatchNorm2d": 2.0, "bgn": 2.5},
               ((2, 8, 4, 4), "float16 autocast"): {"nn.BatchNorm2d": 1.0, "bgn": 0.5}}
    table = benchmark.markdown_table(results, "cpu")
    assert "| (2, 8, 4, 4) | float32 | bgn | 2.50 | 1.25x |" in table
    assert "| (2, 8, 4, 4) | float16 autocast | bgn | 0.50 | 0.50x |" in table
    assert f"on cpu, {torch.get_num_threads()} threads, torch {torch.__version__}" in table


def test_measure_times_every_registered_norm_under_autocast():
    milliseconds = benchmark.measure("cpu", (2, 32, 3, 3), torch.bfloat16, repeats=1, warmup=0)
    assert set(milliseconds) == {"nn.BatchNorm2d", *norms.available()}
    assert all(ms > 0 for ms in milliseconds.values())


def test_cuda_covers_the_issue_shapes_in_both_precisions():
    assert benchmark.SHAPES["cuda"] == [(32, 64, 32, 32), (64, 256, 56, 56), (128, 512, 14, 14), (2, 256, 56, 56)]
    assert set(benchmark.PRECISIONS["cuda"].values()) == {None, torch.float16}


def test_write_readme_replaces_only_its_device_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:norms:cpu:start -->\nold\n<!-- bench:norms:cpu:end -->\n"
                      "<!-- bench:norms:cuda:start -->\ngpu table\n<!-- bench:norms:cuda:end -->\nend\n")
    benchmark.write_readme(readme, "cpu", "new table")
    assert readme.read_text() == ("intro\n<!-- bench:norms:cpu:start -->\nnew table\n<!-- bench:norms:cpu:end -->\n"
                                  "<!-- bench:norms:cuda:start -->\ngpu table\n<!-- bench:norms:cuda:end -->\nend\n")


def test_write_readme_without_markers_says_which_lines_to_add(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="needs exactly one line '<!-- bench:norms:cuda:start -->'"):
        benchmark.write_readme(readme, "cuda", "table")
