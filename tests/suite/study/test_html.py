"""report.html: self-contained, rendered in headless Chromium (skipped where Debian's chromium is absent)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from suite.study.aggregate import collect
from suite.study.grid import expand_grid
from suite.study.profile import load_profile
from suite.study.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Appended to a copy of the report: the rendered page reports its decoded images and tables in its title.
PROBE = ("<script>document.title = 'images=' + [...document.images].filter(i => i.complete && i.naturalWidth > 100)"
         ".length + ' tables=' + document.querySelectorAll('table').length + ' links=' + "
         "document.querySelectorAll('a[href]').length;</script></body>")


@pytest.fixture
def small_cells():
    """cls; bn, gn, bgn; batch 2 and 32; seeds 0-2."""
    return expand_grid(load_profile("quick", ["norms=[bn,gn,bgn]", "batch_sizes=[2,32]", "seeds=[0,1,2]",
                                              "tasks=[cls]", "logger_mode=disabled"]))


def report(tmp_path, small_cells, write_cell):
    for cell in small_cells:
        if (cell.norm, cell.batch_size, cell.seed) == ("bn", 2, 2):
            write_cell(cell, tmp_path / "cells", status="failed", error="FloatingPointError: train/loss became nan")
        else:
            write_cell(cell, tmp_path / "cells", value=0.8 + 0.05 * cell.seed + (cell.norm == "gn") * 0.1
                       + (cell.norm == "bgn") * 0.01 * (cell.seed + 1))
    return write_report(collect(small_cells, tmp_path / "cells"), tmp_path, "demo", 0.05, "python -m suite.study x")


def test_html_is_one_file_with_tables_embedded_plots_and_a_link_per_cell(tmp_path, small_cells, write_cell):
    written = report(tmp_path, small_cells, write_cell)
    text = written.html.read_text()
    assert text.count("data:image/png;base64,") == 1  # one task, one plot
    assert not re.search(r'src="(?!data:)', text)  # nothing loaded from outside the file
    assert text.count('href="cells/cls/') == len(small_cells)  # offline cells link their run directory
    assert '<tr class="diverged">' in text and "(2/3; 1 diverged)" in text
    # bgn − gn = -0.09, -0.08, -0.07 at both batches: below 0, so the rule says degrades
    assert '<td class="degrades">degrades</td>' in text and "BGN − GN is below 0 at batch 2, 32" in text


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_chromium_renders_the_tables_and_images(tmp_path, small_cells, write_cell):
    written = report(tmp_path, small_cells, write_cell)
    probe = tmp_path / "probe.html"
    probe.write_text(written.html.read_text().replace("</body>", PROBE))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    # verdicts, the cls table, its paired intervals, every cell
    assert title == f"images=1 tables=4 links={len(small_cells)}", title
