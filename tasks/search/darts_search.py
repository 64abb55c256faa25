"""One DARTS search through NNI 3: the one-shot ``DARTS`` strategy run by a ``NasExperiment``."""
from __future__ import annotations

from pathlib import Path

from nni.nas.evaluator.pytorch import Lightning
from nni.nas.experiment import NasExperiment, NasExperimentConfig
from nni.nas.strategy import DARTS

from tasks.search.darts_space import DartsSpace
from tasks.search.search_module import DartsSearchModule


def run_darts_search(space: DartsSpace, module: DartsSearchModule, trainer, train_loader, val_loader,
                     working_dir: Path, arc_learning_rate: float, gradient_clip_val: float | None
                     ) -> tuple[dict, dict[str, dict[str, float]]]:
    """Search ``space`` with first-order DARTS and return (architecture, architecture weights per edge).

    ``trainer`` is NNI's traced Lightning Trainer (its ``max_epochs`` are the search epochs, its logger
    gets the search curves); weights train on ``train_loader``, architecture weights (NNI's Adam,
    betas (0.5, 0.999), weight decay 1e-3, as DARTS) on ``val_loader``; ``gradient_clip_val`` clips the
    weight gradients. The architecture keeps, per node, the two strongest operations from distinct
    inputs, never DARTS's zero op (NNI's ``DifferentiableMixedCell.export``). The edge weights are the
    softmaxed architecture parameters, ``{"normal/3_1": {operation: weight}}``. NNI writes its experiment
    files under ``working_dir``.
    """
    evaluator = Lightning(module, trainer, train_dataloaders=train_loader, val_dataloaders=val_loader)
    strategy = DARTS(arc_learning_rate=arc_learning_rate, gradient_clip_val=gradient_clip_val)
    config = NasExperimentConfig.default(space, evaluator, strategy)
    config.experiment_working_directory = str(working_dir)
    experiment = NasExperiment(space, evaluator, strategy, config)
    try:
        experiment.run()
        architecture = experiment.export_top_models(formatter="dict")[0]
        edge_weights = strategy.oneshot_module.export_probs()
    finally:
        experiment.stop()
    return architecture, edge_weights
