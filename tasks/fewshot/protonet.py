"""The prototypical-network core (Snell, Swersky & Zemel 2017, "Prototypical Networks for Few-shot Learning").

A class prototype is the mean embedding of its support examples; a query is classified by a softmax
over negative distances to the prototypes, and trained with cross-entropy on those logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

DISTANCES = ("euclidean", "cosine")


def class_prototypes(support_embeddings: torch.Tensor) -> torch.Tensor:
    """Mean support embedding per class: (ways, shots, D) -> (ways, D)."""
    return support_embeddings.mean(dim=1)


def prototype_logits(query_embeddings: torch.Tensor, prototypes: torch.Tensor,
                     distance: str = "euclidean") -> torch.Tensor:
    """Logits (Q, ways) of queries (Q, D) against prototypes (ways, D).

    ``euclidean`` (the paper's choice, default): the negative squared Euclidean distance.
    ``cosine``: the cosine similarity (bounded in [-1, 1]; the paper found it worse).
    """
    if distance == "euclidean":
        # ||q||^2 - 2 q.p + ||p||^2 without materialising (Q, ways, D) differences.
        squared = (query_embeddings.square().sum(1, keepdim=True) - 2.0 * query_embeddings @ prototypes.T
                   + prototypes.square().sum(1)[None, :])
        return -squared.clamp_min(0.0)
    if distance == "cosine":
        return F.normalize(query_embeddings, dim=1) @ F.normalize(prototypes, dim=1).T
    raise ValueError(f"unknown distance '{distance}': choose one of {', '.join(DISTANCES)}")


def prototypical_loss(support_embeddings: torch.Tensor, query_embeddings: torch.Tensor,
                      query_labels: torch.Tensor, distance: str = "euclidean") -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and accuracy of one episode.

    Args:
        support_embeddings: (ways, shots, D), class c's support in row c.
        query_embeddings: (Q, D).
        query_labels: (Q,) integers in [0, ways).
        distance: ``euclidean`` (default) or ``cosine``.

    Returns: (loss, accuracy), scalar tensors; accuracy is the fraction of queries whose nearest
    prototype is their class.
    """
    logits = prototype_logits(query_embeddings, class_prototypes(support_embeddings), distance)
    loss = F.cross_entropy(logits, query_labels)
    accuracy = (logits.argmax(1) == query_labels).float().mean()
    return loss, accuracy
