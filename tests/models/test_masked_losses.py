"""NaN-masked losses: missing targets change neither the value nor the gradient."""

import pytest
import torch

from averse.models import masked_mae, masked_mse


@pytest.mark.parametrize("loss, plain", [(masked_mse, torch.nn.functional.mse_loss),
                                         (masked_mae, torch.nn.functional.l1_loss)])
def test_equals_the_plain_loss_on_the_valid_pixels(loss, plain):
    generator = torch.Generator().manual_seed(5)
    target = torch.randn(2, 3, 8, 8, generator=generator)
    missing = torch.rand(2, 3, 8, 8, generator=generator) < 0.3
    target_with_gaps = target.masked_fill(missing, float("nan"))
    prediction = torch.randn(2, 3, 8, 8, generator=generator, requires_grad=True)

    value = loss(prediction, target_with_gaps)
    expected = plain(prediction[~missing], target[~missing])
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    value.backward()
    assert torch.isfinite(prediction.grad).all()
    assert (prediction.grad[missing] == 0).all() and (prediction.grad[~missing] != 0).any()


def test_all_missing_gives_zero_and_no_nan_gradient():
    prediction = torch.randn(1, 2, 4, 4, requires_grad=True)
    value = masked_mse(prediction, torch.full((1, 2, 4, 4), float("nan")))
    value.backward()
    assert value.item() == 0.0 and (prediction.grad == 0).all()


def test_shapes_must_match_exactly():
    with pytest.raises(ValueError, match="differ in shape"):
        masked_mse(torch.zeros(2, 1, 8, 8), torch.zeros(2, 12, 8, 8))
