"""The prototype loss against a direct, loop-by-loop computation."""
import math

import pytest
import torch

from tasks.fewshot.protonet import class_prototypes, prototype_logits, prototypical_loss


def direct_loss(support, query, labels, distance):
    """Snell et al. eq. 1-2 written out: p(y=c|x) = softmax over c of -d(f(x), c_k)."""
    ways = support.shape[0]
    prototypes = [sum(support[c, k] for k in range(support.shape[1])) / support.shape[1] for c in range(ways)]
    total, correct = 0.0, 0
    for q, label in zip(query, labels.tolist()):
        if distance == "euclidean":
            scores = [-float(((q - p) ** 2).sum()) for p in prototypes]
        else:
            scores = [float((q * p).sum() / (q.norm() * p.norm())) for p in prototypes]
        log_normalizer = math.log(sum(math.exp(s) for s in scores))
        total += -(scores[label] - log_normalizer)
        correct += int(max(range(ways), key=lambda c: scores[c]) == label)
    return total / len(labels), correct / len(labels)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_loss_and_accuracy_equal_direct_computation(distance):
    generator = torch.Generator().manual_seed(0)
    ways, shots, queries, dim = 5, 3, 4, 7
    support = torch.randn(ways, shots, dim, generator=generator, dtype=torch.float64)
    query = support.mean(1).repeat_interleave(queries, 0) + 0.8 * torch.randn(ways * queries, dim,
                                                                              generator=generator, dtype=torch.float64)
    labels = torch.arange(ways).repeat_interleave(queries)
    labels[::3] = (labels[::3] + 1) % ways  # some wrong answers so accuracy is not trivially 1
    loss, accuracy = prototypical_loss(support, query, labels, distance)
    expected_loss, expected_accuracy = direct_loss(support, query, labels, distance)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-9)
    assert accuracy.item() == pytest.approx(expected_accuracy)
    assert 0.0 < expected_accuracy < 1.0


def test_prototypes_are_support_means_and_logits_are_negative_squared_distances():
    support = torch.tensor([[[0.0, 0.0], [2.0, 2.0]], [[4.0, 0.0], [4.0, 2.0]]])
    prototypes = class_prototypes(support)
    assert torch.equal(prototypes, torch.tensor([[1.0, 1.0], [4.0, 1.0]]))
    logits = prototype_logits(torch.tensor([[1.0, 3.0]]), prototypes)
    assert torch.allclose(logits, torch.tensor([[-4.0, -13.0]]))


def test_gradient_reaches_support_and_query():
    support = torch.randn(3, 2, 4, requires_grad=True)
    query = torch.randn(6, 4, requires_grad=True)
    loss, _ = prototypical_loss(support, query, torch.arange(3).repeat_interleave(2))
    loss.backward()
    assert support.grad.abs().sum() > 0 and query.grad.abs().sum() > 0


def test_unknown_distance_is_an_error():
    with pytest.raises(ValueError, match="euclidean, cosine"):
        prototype_logits(torch.zeros(1, 2), torch.zeros(2, 2), "manhattan")
