"""No norm depends on behaviour that differs between the supported torch versions (pyproject's range).

torch >= 2.11 refuses ``batch_norm`` with eps <= 0 in every mode; older torch refused it only in training.
The check below applies 2.11's rule on whichever torch runs the tests, so a call that only the newer
torch would refuse fails here too (``make test-oldest-torch`` runs the norms tests on torch 2.11 itself).
"""
import pytest
import torch
import torch.nn.functional as F

import norms


def refuse_nonpositive_eps(batch_norm):
    def strict(*args, **kwargs):
        eps = kwargs.get("eps", args[7] if len(args) > 7 else 1e-5)
        if eps <= 0:
            raise ValueError(f"batch_norm eps must be positive, but got {eps}")
        return batch_norm(*args, **kwargs)

    return strict


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_no_batch_norm_call_with_nonpositive_eps(norm_name, training, monkeypatch, reference):
    monkeypatch.setattr(F, "batch_norm", refuse_nonpositive_eps(F.batch_norm))
    monkeypatch.setattr(torch, "batch_norm", refuse_nonpositive_eps(torch.batch_norm))
    module = norms.build(norm_name, reference.CHANNELS, **reference.BUILD_KW.get(norm_name, {})).train(training)
    x = torch.randn(4, reference.CHANNELS, 3, 3, requires_grad=True)
    module(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
