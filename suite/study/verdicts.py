"""Paired differences between norms and the per-task verdict of the study.

Cells are paired by seed: for a task, a batch size and a seed s, BGN − BN is
``value(bgn, b, s) − value(bn, b, s)`` (same seed: same initialisation stream and data order).
The n differences of the seeds where both cells finished give a mean and a two-sided 95 %
t-interval, mean ± t(0.975, n − 1) · sd / sqrt(n); with fewer than 2 pairs there is no interval.

The verdict per task (``verdict``), stated in the README and computed here, with b_min and
b_max the smallest and largest batch sizes of the grid:

- **degrades**: at some batch the BGN − GN interval lies wholly below 0, or at b_min the
  BGN − BN interval lies wholly below 0 (BGN significantly worse than the norm it should beat);
- **holds**: not degrades, at b_min the BGN − BN interval lies wholly above 0 (BGN beats BN where
  BN's statistics are noisiest), and at b_max the BGN − GN interval reaches 0 or above (BGN at the
  largest batch within GN's spread or better);
- **inconclusive**: everything else, including a missing interval (fewer than 2 finished pairs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
VERDICTS = ("holds", "degrades", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """Mean of n paired differences with its two-sided t-interval (NaN bounds when n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def above_zero(self) -> bool:
        return self.n >= 2 and self.low > 0

    @property
    def below_zero(self) -> bool:
        return self.n >= 2 and self.high < 0

    def text(self) -> str:
        if self.n == 0:
            return "no pair"
        if self.n < 2:
            return f"{self.mean:+.3f} (1 pair, no interval)"
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def t_interval(differences: list[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and t-interval of `differences` (sample sd, ddof 1)."""
    n = len(differences)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = sum(differences) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    sd = math.sqrt(sum((value - mean) ** 2 for value in differences) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired(frame: pd.DataFrame, task: str, norm: str, baseline: str, batch_size: int) -> Interval:
    """`norm` − `baseline` for `task` at `batch_size`, paired by seed over the cells both finished."""
    rows = frame[(frame.task == task) & (frame.batch_size == batch_size) & (frame.status == "finished")]
    ours = rows[rows.norm == norm].set_index("seed").value
    theirs = rows[rows.norm == baseline].set_index("seed").value
    common = sorted(set(ours.index) & set(theirs.index))
    return t_interval([float(ours[seed] - theirs[seed]) for seed in common])


def comparisons(frame: pd.DataFrame, task: str, norm: str = "bgn", baselines: tuple[str, ...] = ("bn", "gn")
                ) -> dict[str, dict[int, Interval]]:
    """``{baseline: {batch_size: Interval}}`` of `norm` − baseline at every batch size of `task`;
    baselines (or `norm`) absent from the grid are left out."""
    rows = frame[frame.task == task]
    present = set(rows.norm)
    sizes = sorted(int(size) for size in rows.batch_size.unique())
    if norm not in present:
        return {}
    return {baseline: {size: paired(frame, task, norm, baseline, size) for size in sizes}
            for baseline in baselines if baseline in present}


def verdict(intervals: dict[str, dict[int, Interval]]) -> tuple[str, str]:
    """(verdict, reason) by the rule of the module docstring, from `comparisons` with bn and gn."""
    if "bn" not in intervals or "gn" not in intervals:
        return "inconclusive", "the grid lacks bn or gn"
    versus_bn, versus_gn = intervals["bn"], intervals["gn"]
    smallest, largest = min(versus_bn), max(versus_gn)
    worse_than_gn = [size for size, interval in versus_gn.items() if interval.below_zero]
    if worse_than_gn:
        return "degrades", f"BGN − GN is below 0 at batch {', '.join(map(str, worse_than_gn))}"
    if versus_bn[smallest].below_zero:
        return "degrades", f"BGN − BN is below 0 at the smallest batch {smallest}"
    missing = [f"{name} at batch {size}" for name, size in (("BGN − BN", smallest), ("BGN − GN", largest))
               if intervals[name[-2:].lower()][size].n < 2]
    if missing:
        return "inconclusive", f"fewer than 2 finished seed pairs for {', '.join(missing)}"
    if not versus_bn[smallest].above_zero:
        return "inconclusive", f"BGN − BN at batch {smallest} is not above 0 ({versus_bn[smallest].text()})"
    return "holds", (f"BGN − BN at batch {smallest} is {versus_bn[smallest].text()} and BGN − GN at batch "
                     f"{largest} is {versus_gn[largest].text()}")
