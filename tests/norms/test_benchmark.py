"""benchmarks/norms.py: the table and the README markers (timing itself is not tested)."""
import pytest

from benchmarks import norms as benchmark


def test_table_has_a_row_per_layer_with_ratio():
    table = benchmark.markdown_table({"nn.BatchNorm2d": 2.0, "bgn": 2.5}, "cpu")
    assert "| bgn | 2.50 | 1.25x | cpu, " in table and "| nn.BatchNorm2d | 2.00 | 1.00x |" in table


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
