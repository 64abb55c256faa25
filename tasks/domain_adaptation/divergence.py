"""The proxy A-distance between two feature sets: how well a fresh linear classifier tells the domains apart.

Ben-David et al. (2007, 2010) bound the target error of a classifier by its source error plus the
H-divergence of the two domains' feature distributions (plus a term no unlabelled data can estimate).
The proxy A-distance estimates that divergence from unlabelled samples: train a domain classifier on
features of both domains and measure its held-out error ε, then ``PAD = 2 (1 − 2 ε)`` (Ganin et al. 2016,
section 5.1.5, measure DANN's features this way). Here the classifier is scikit-learn's logistic regression
on standardized features, scored by stratified k-fold cross-validation, so every sample is held out once.

A fresh classifier, not DANN's own discriminator: the discriminator's accuracy depends on the domain-loss
weight w that trains it (w = 0 leaves it untrained), so it cannot compare runs of different w.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def domain_accuracy(source: np.ndarray, target: np.ndarray, folds: int = 2, seed: int = 0) -> float:
    """Held-out accuracy in [0, 1] of a linear classifier telling source features (N_s, D) from target
    features (N_t, D), averaged over `folds` stratified folds; 0.5 when the domains are indistinguishable."""
    features = np.concatenate([source, target]).astype(np.float64)
    domains = np.concatenate([np.ones(len(source)), np.zeros(len(target))])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(classifier, features, domains, cv=split, scoring="accuracy").mean())


def proxy_a_distance(accuracy: float) -> float:
    """``2 (1 − 2 ε)`` with ε = min(error, 1 − error): in [0, 2], 0 for indistinguishable domains."""
    error = min(1.0 - accuracy, accuracy)
    return 2.0 * (1.0 - 2.0 * error)
