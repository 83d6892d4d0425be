"""Rain transforms: exact round trips, zeros, NaN, pysteps agreement, numpy and torch."""

import math

import numpy as np
import pytest
import torch
from pysteps.utils.transformation import dB_transform

from averse.models import transforms as tr

# Zeros, light to extreme rain, and missing values.
RATES = np.array([0.0, 0.0, 0.1, 0.1000001, 0.37, 1.0, 2.5, 12.0, 80.0, 250.0, np.nan, np.nan])


def as_backend(values, backend):
    if backend == "numpy64":
        return values.astype(np.float64)
    if backend == "numpy32":
        return values.astype(np.float32)
    return torch.tensor(values, dtype=torch.float32)


def to_numpy(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


BACKENDS = ["numpy64", "numpy32", "torch32"]
ROUND_TRIPPERS = [
    tr.Identity(),
    tr.LogTransform(),
    tr.LogTransform(offset=0.01),
    tr.DBTransform(),
    tr.DBTransform(threshold=0.05, zero_value=-30.0),
    tr.Compose(tr.DBTransform(), tr.Normalize(loc=-5.0, scale=9.0)),
    tr.Compose(tr.LogTransform(offset=0.1), tr.Normalize(loc=0.3, scale=2.0)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("transform", ROUND_TRIPPERS, ids=repr)
def test_round_trip_is_exact_for_zeros_rain_and_nan(transform, backend):
    rates = as_backend(RATES, backend)
    values = transform.forward(rates)
    back = transform.inverse(values)
    assert type(back) is type(rates) and back.dtype == rates.dtype
    back = to_numpy(back)
    rtol = 1e-12 if backend == "numpy64" else 2e-6
    np.testing.assert_allclose(back, to_numpy(rates), rtol=rtol, atol=0, equal_nan=True)
    assert (back[RATES == 0] == 0).all()  # no rain comes back as exactly no rain
    assert np.isnan(to_numpy(values)[np.isnan(RATES)]).all()  # NaN stays NaN both ways


@pytest.mark.parametrize("backend", BACKENDS)
def test_db_sets_rain_below_the_threshold_to_zero(backend):
    transform = tr.DBTransform(threshold=0.1)
    rates = as_backend(np.array([0.0, 0.02, 0.0999, 0.1, 0.5]), backend)
    values = to_numpy(transform.forward(rates))
    np.testing.assert_allclose(values[:3], -15.0)  # zero_value = 10 log10(0.1) - 5
    assert values[3] >= transform.threshold_db
    np.testing.assert_allclose(to_numpy(transform.inverse(transform.forward(rates))),
                               [0, 0, 0, 0.1, 0.5], rtol=2e-6)


def test_db_matches_pysteps_both_ways():
    rng = np.random.default_rng(3)
    rates = np.where(rng.random((40, 50)) < 0.4, 0.0, rng.lognormal(0.0, 1.5, (40, 50)))
    rates[0, :5] = np.nan
    for threshold, zero_value in [(0.1, None), (0.5, -20.0)]:
        ours = tr.DBTransform(threshold=threshold, zero_value=zero_value)
        theirs, metadata = dB_transform(rates, threshold=threshold, zerovalue=zero_value)
        np.testing.assert_array_equal(ours.forward(rates), theirs)
        expected = (metadata["zerovalue"], metadata["threshold"])
        assert (ours.zero_value, ours.threshold_db) == pytest.approx(expected)
        # Network outputs anywhere on the dB scale, including between zero_value and threshold.
        outputs = rng.uniform(ours.zero_value - 3, 25.0, (40, 50))
        back, _ = dB_transform(outputs, metadata, inverse=True)
        np.testing.assert_allclose(ours.inverse(outputs), back, rtol=1e-12)


def test_log_inverse_clips_negative_rates_and_log1p_is_the_default():
    transform = tr.LogTransform()
    np.testing.assert_allclose(transform.forward(np.array([0.0, 1.0, 9.0])), np.log1p([0, 1, 9]))
    assert transform.inverse(np.array([-0.5]))[0] == 0.0  # a network output below log(offset)
    eps = tr.LogTransform(offset=0.01)
    np.testing.assert_allclose(eps.forward(np.array([0.0, 5.0])), np.log([0.01, 5.01]), rtol=1e-12)


def test_zero_is_the_transformed_no_rain_value():
    assert tr.LogTransform(offset=0.01).zero == pytest.approx(math.log(0.01))
    assert tr.DBTransform(threshold=0.1).zero == pytest.approx(-15.0)
    norm = tr.Compose(tr.DBTransform(), tr.Normalize(loc=-15.0, scale=5.0))
    assert norm.zero == pytest.approx(0.0)


def test_torch_forward_keeps_device_and_gives_finite_gradients_at_zero():
    for transform in [tr.LogTransform(), tr.DBTransform()]:
        rates = torch.tensor([0.0, 0.05, 1.0, 10.0], requires_grad=True)
        transform.forward(rates).sum().backward()
        assert torch.isfinite(rates.grad).all(), transform
    meta = tr.DBTransform().forward(torch.empty(3, device="meta"))
    assert meta.device.type == "meta"


def test_normalize_fit_ignores_nan():
    values = np.array([1.0, 3.0, np.nan, 5.0])
    fitted = tr.Normalize.fit(values)
    assert (fitted.loc, fitted.scale) == pytest.approx((3.0, np.std([1.0, 3.0, 5.0])))
    assert tr.Normalize.fit(torch.tensor(values)) == fitted
    with pytest.raises(ValueError, match="no finite values"):
        tr.Normalize.fit(np.array([np.nan]))


@pytest.mark.parametrize("transform", ROUND_TRIPPERS, ids=repr)
def test_transforms_survive_a_round_trip_through_a_dict(transform):
    assert tr.from_dict(transform.to_dict()) == transform


def test_lookup_by_name_and_bad_parameters():
    assert tr.get("dB", threshold=0.2) == tr.DBTransform(threshold=0.2)
    with pytest.raises(ValueError, match="available: db, identity, log, normalize"):
        tr.get("boxcox")
    with pytest.raises(ValueError, match="below the threshold"):
        tr.DBTransform(threshold=0.1, zero_value=-5.0)
    with pytest.raises(ValueError, match="offset"):
        tr.LogTransform(offset=0.0)
