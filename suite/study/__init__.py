"""The batch-size study: does a norm hold up when the batch shrinks, on every task?

``make study PROFILE=quick`` (``python -m suite.study profile=quick``) expands the grid
tasks x norms x batch sizes x seeds of ``configs/study/<profile>.yaml`` (`grid`), runs
each task's cells as a Hydra multirun with the joblib launcher (`runner`, `cell`),
reads the cells' metrics.json back (`aggregate`) and writes ``reports/<study-id>/``:
cells.csv, a mean ± std table and a plot per task, summary.md (`report`, `plots`), and
one W&B summary run (`wandb_summary`). Finished cells are never re-run.
"""
