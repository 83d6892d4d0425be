"""Tests of the Topographic VAE, its baselines, their parts and the latent-space scores."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from averse import models
from averse.models.tvae import (
    TVAE,
    ConvBubbleVAE,
    ConvTVAE,
    ConvVAE,
    IdentityGrouper,
    TopographicGrouper,
    shifting_kernel,
    stationary_kernel,
    topographic_pool,
)
from averse.models.tvae_sanity import sanity_run
from averse.models.vae_parts import (
    BernoulliLikelihood,
    GaussianLikelihood,
    ZeroInflatedLogNormalLikelihood,
    make_likelihood,
)
from averse.verify.latent import (
    capsule_correlation,
    capsule_roll_accuracy,
    capsule_roll_offsets,
    equivariance_error,
    importance_sampled_log_likelihood,
    random_equivariance_error,
    relative_equivariance_error,
    squared_activation_correlation,
)

SMALL = {"n_caps": 3, "cap_dim": 6, "width": 4, "features": 16}


def small_model(kind: str, **kwargs):
    built = {"tvae": lambda: ConvTVAE(time_extent=2, **SMALL, **kwargs),
             "bubble_vae": lambda: ConvBubbleVAE(time_extent=1, **SMALL, **kwargs),
             "vae": lambda: ConvVAE(**SMALL, **kwargs)}
    return built[kind]()


def rolling_latents(generator, batch=4, steps=6, n_caps=3, cap_dim=6, shift=1):
    base = torch.randn(batch, 1, n_caps, cap_dim, generator=generator)
    return torch.cat([torch.roll(base, shift * k, dims=-1) for k in range(steps)], dim=1)


# ----------------------------------------------------------------------------- topographic kernel


def direct_pool(u2, kernel, circular_time=True):
    """``Σ W[δ, k] u2[l + δ, c + k]`` term by term with torch.roll (circular over c)."""
    steps = u2.shape[1]
    pad_t, pad_c = (s // 2 for s in kernel.shape)
    out = torch.zeros_like(u2)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            delta, offset = i - pad_t, j - pad_c
            term = torch.roll(u2, shifts=(-delta, -offset), dims=(1, 3))
            if not circular_time:
                valid = ((torch.arange(steps) + delta >= 0) & (torch.arange(steps) + delta < steps)).float()
                term = term * valid[None, :, None, None]
            out += kernel[i, j] * term
    return out


@pytest.mark.parametrize("kernel", [shifting_kernel(2, 1), shifting_kernel(1, 0), stationary_kernel(2, 1)])
@pytest.mark.parametrize("circular_time", [True, False])
def test_topographic_pool_matches_direct_roll_sum(generator, kernel, circular_time):
    u2 = torch.rand(2, 7, 3, 8, generator=generator)
    np.testing.assert_allclose(topographic_pool(u2, kernel, circular_time),
                               direct_pool(u2, kernel, circular_time), rtol=1e-6, atol=1e-6)


def test_shifting_kernel_pools_along_the_diagonal():
    # a single unit of u² at (step 0, unit 0) reaches v[l, c] where the activation would be
    # after rolling: c - l in {-1, 0, 1} (mod cap_dim), for |l| <= L (mod T)
    u2 = torch.zeros(1, 8, 1, 8)
    u2[0, 0, 0, 0] = 1.0
    pooled = topographic_pool(u2, shifting_kernel(2, 1))[0, :, 0]
    steps, units = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    step_offset = (steps + 4) % 8 - 4          # l in -4..3
    band = ((units - steps + 4) % 8 - 4).abs() <= 1
    expected = (band & (step_offset.abs() <= 2)).float()
    assert torch.equal(pooled, expected)
    # the stationary kernel pools a box around the unit: no shift with time
    box = topographic_pool(u2, stationary_kernel(2, 1))[0, :, 0]
    unit_offset = (units + 4) % 8 - 4
    assert torch.equal(box, ((step_offset.abs() <= 2) & (unit_offset.abs() <= 1)).float())


def test_shifting_kernel_shape_and_band():
    kernel = shifting_kernel(3, 1)
    assert kernel.shape == (7, 9)
    assert kernel.sum() == 7 * 3
    assert torch.equal(kernel, kernel.flip(0).flip(1))


def test_pool_rejects_kernel_wider_than_the_capsule():
    with pytest.raises(ValueError, match="reaches"):
        topographic_pool(torch.ones(1, 4, 1, 4), shifting_kernel(3, 2))


def test_grouper_follows_the_formula(generator):
    kernel = shifting_kernel(2, 1)
    grouper = TopographicGrouper(2, 6, kernel, mu_init=3.0, eps=1e-6)
    z = torch.randn(2, 5, 2, 6, generator=generator)
    u = torch.randn(2, 5, 2, 6, generator=generator)
    expected = (z + 3.0) / torch.sqrt(direct_pool(u**2, kernel) + 1e-6)
    np.testing.assert_allclose(grouper(z, u).detach(), expected, rtol=1e-5)
    assert grouper.mu.requires_grad and not grouper.kernel.requires_grad


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("kind", ["tvae", "bubble_vae", "vae"])
def test_shapes_of_elbo_latents_and_reconstruction(generator, kind):
    model = small_model(kind)
    x = torch.rand(2, 6, 1, 28, 28, generator=generator)
    out = model(x)
    assert out.log_px.shape == out.kl_z.shape == out.kl_u.shape == out.elbo.shape == (2, 6)
    assert out.latents.t.shape == out.latents.z.shape == (2, 6, 3, 6)
    assert out.params.shape == (2, 6, 1, 28, 28)
    assert (out.latents.u is None) == (kind == "vae")
    assert model.reconstruct(x).shape == x.shape
    assert out.loss().ndim == 0 and torch.isfinite(out.loss())


@pytest.mark.parametrize("size, channels, likelihood, n_params", [
    (32, 1, "zero_inflated_lognormal", 3), (64, 2, "gaussian", 1), (28, 3, "bernoulli", 1)])
def test_decoders_for_rain_sizes_and_likelihoods(generator, size, channels, likelihood, n_params):
    model = ConvTVAE(image_size=size, channels=channels, time_extent=1, likelihood=likelihood, **SMALL)
    x = torch.rand(1, 3, channels, size, size, generator=generator)
    out = model(x)
    assert out.params.shape == (1, 3, n_params * channels, size, size)
    assert torch.isfinite(out.elbo).all()


def test_kl_terms_are_non_negative_and_zero_at_the_prior(generator):
    model = small_model("tvae")
    x = torch.rand(2, 6, 1, 28, 28, generator=generator)
    out = model(x)
    assert (out.kl_z > 0).all() and (out.kl_u > 0).all()
    with torch.no_grad():
        for encoder in (model.z_encoder, model.u_encoder):
            encoder.head.weight.zero_()
            encoder.head.bias.zero_()      # q = N(0, 1) = prior
    out = model(x)
    assert torch.equal(out.kl_z, torch.zeros(2, 6)) and torch.equal(out.kl_u, torch.zeros(2, 6))


def test_vae_has_no_u_term(generator):
    out = small_model("vae")(torch.rand(1, 6, 1, 28, 28, generator=generator))
    assert torch.equal(out.kl_u, torch.zeros(1, 6))


def test_identity_grouper_refuses_a_u_encoder():
    model = small_model("tvae")
    with pytest.raises(ValueError, match="takes no u encoder"):
        TVAE(model.z_encoder, model.u_encoder, model.decoder, IdentityGrouper(3, 6))
    with pytest.raises(ValueError, match="needs u encoder"):
        TVAE(model.z_encoder, None, model.decoder, model.grouper)


@pytest.mark.parametrize("kind", ["tvae", "vae"])
def test_elbo_improves_on_a_tiny_batch(generator, kind):
    model = small_model(kind)
    x = (torch.rand(2, 6, 1, 28, 28, generator=generator) > 0.7).float()

    def loss_with_fixed_noise():
        torch.manual_seed(7)
        with torch.no_grad():
            return model(x).loss().item()

    before = loss_with_fixed_noise()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        loss = model(x).loss()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss_with_fixed_noise() < 0.9 * before


def test_runs_on_cpu_without_any_cuda_call(generator, monkeypatch):
    def no_cuda(*args, **kwargs):
        raise AssertionError("CUDA was touched")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "_lazy_init", no_cuda)
    monkeypatch.setattr(torch.Tensor, "cuda", no_cuda)
    model = small_model("tvae").to("cpu")
    x = torch.rand(1, 6, 1, 28, 28, generator=generator)
    out = model(x)
    out.loss().backward()
    weights = model.log_importance_weights(x, 2)
    tensors = [out.latents.t, out.params, out.elbo, weights, *model.parameters(), *model.buffers()]
    assert all(t.device.type == "cpu" for t in tensors)


def test_registry_names():
    assert {"tvae", "bubble_vae", "vae"} <= set(models.available())
    model = models.get("bubble_vae", n_caps=2, cap_dim=6, width=4, features=8)
    assert isinstance(model, ConvBubbleVAE)
    assert torch.equal(model.grouper.kernel, stationary_kernel(2, 1))


# ----------------------------------------------------------------------------- likelihoods


def test_zero_inflated_lognormal_log_prob_by_hand():
    likelihood = ZeroInflatedLogNormalLikelihood()
    wet_logit, log_loc, log_scale = 0.3, 0.5, -0.2
    params = torch.tensor([wet_logit, log_loc, log_scale]).reshape(1, 3, 1, 1).expand(1, 3, 1, 3).contiguous()
    x = torch.tensor([[[[0.0, 2.5, float("nan")]]]])
    p_wet = 1 / (1 + math.exp(-wet_logit))
    expected = math.log(1 - p_wet) + math.log(p_wet) + stats.lognorm.logpdf(2.5, math.exp(log_scale),
                                                                            scale=math.exp(log_loc))
    assert likelihood.log_prob(params, x).item() == pytest.approx(expected, rel=1e-5)
    mean = likelihood.mean(params)[0, 0, 0, 0].item()
    assert mean == pytest.approx(p_wet * math.exp(log_loc + math.exp(log_scale) ** 2 / 2), rel=1e-5)


def test_bernoulli_and_gaussian_log_prob_by_hand():
    logits = torch.tensor([[[[0.4, -1.0]]]])
    x = torch.tensor([[[[1.0, 0.25]]]])
    p = torch.sigmoid(logits)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum()
    assert BernoulliLikelihood().log_prob(logits, x).item() == pytest.approx(expected.item(), rel=1e-5)
    gaussian = GaussianLikelihood(channels=1, scale=0.5)
    assert gaussian.log_prob(logits, x).item() == pytest.approx(
        stats.norm.logpdf([1.0, 0.25], [0.4, -1.0], 0.5).sum(), rel=1e-5)
    with pytest.raises(ValueError, match="known"):
        make_likelihood("poisson")


# ----------------------------------------------------------------------------- latent scores


def test_perfect_roll_has_zero_equivariance_error_and_full_capsule_correlation(generator):
    t = rolling_latents(generator)
    assert equivariance_error(t).abs().max() < 1e-5
    assert equivariance_error(t, pairs="all").abs().max() < 1e-5
    assert torch.equal(capsule_roll_offsets(t), torch.arange(6).expand(4, 6))
    assert capsule_correlation(t) == pytest.approx(1.0)
    assert capsule_roll_accuracy(t) == 1.0
    assert relative_equivariance_error(t, generator).max() < 1e-4
    # a roll of two units per step, against the matching true offsets; a roll the other way
    double = rolling_latents(generator, shift=2)
    assert capsule_correlation(double, offsets=2 * torch.arange(6).expand(4, 6)) == pytest.approx(1.0)
    assert capsule_correlation(rolling_latents(generator, shift=-1)) == pytest.approx(-1.0)
    assert capsule_roll_accuracy(rolling_latents(generator, shift=-1)) == pytest.approx(1 / 5)   # only l = 3 ≡ -3


def test_random_latents_score_at_chance(generator):
    t = torch.randn(3000, 6, 3, 6, generator=generator)
    expected = random_equivariance_error(6, 3, 6)
    assert equivariance_error(t).mean().item() == pytest.approx(expected, rel=0.02)
    assert equivariance_error(t, pairs="all").mean().item() == pytest.approx(
        random_equivariance_error(6, 3, 6, pairs="all"), rel=0.02)
    assert abs(capsule_correlation(t)) < 0.05
    assert capsule_roll_accuracy(t) == pytest.approx(1 / 6, abs=0.02)
    assert relative_equivariance_error(t, generator).mean().item() == pytest.approx(1.0, abs=0.02)


def test_random_equivariance_error_closed_forms():
    # D = 2: 2 · E|a - b| · E|w_1| = 2 · 4/π · 2/π; D = 3 (Archimedes): 3 · 4/3 · 1/2 = 2
    assert random_equivariance_error(2, 1, 2) == pytest.approx(16 / math.pi**2)
    assert random_equivariance_error(2, 1, 3) == pytest.approx(2.0)
    assert random_equivariance_error(4, 5, 3) == pytest.approx(3 * 5 * 2.0)


def test_capsule_correlation_is_nan_without_any_roll(generator):
    still = torch.randn(4, 1, 3, 6, generator=generator).expand(4, 6, 3, 6)
    assert math.isnan(capsule_correlation(still))
    assert capsule_roll_accuracy(still) == 0.0


def test_squared_activation_correlation_shows_capsules(generator):
    # one scale s ~ U(0, 3) per capsule and frame: corr((s g)², (s g')²) = Var s² / (3 E s⁴ - (E s²)²) = 0.18
    scale = torch.rand(5000, 1, 2, 1, generator=generator) * 3
    t = scale * torch.randn(5000, 1, 2, 4, generator=generator)
    corr = squared_activation_correlation(t)
    assert corr.shape == (8, 8)
    within, between = corr[0, 1:4], corr[0, 4:]
    assert within.min() > 0.12 and between.abs().max() < 0.05


def test_importance_sampled_log_likelihood_known_value(generator):
    # q = prior and a decoder that ignores t: every importance weight equals log p(x | ·)
    model = small_model("tvae")
    with torch.no_grad():
        for encoder in (model.z_encoder, model.u_encoder):
            encoder.head.weight.zero_()
            encoder.head.bias.zero_()
        last = model.decoder.body[-1]
        last.weight.zero_()
        last.bias.fill_(0.3)
    x = torch.rand(2, 6, 1, 28, 28, generator=generator)
    p = torch.sigmoid(torch.tensor(0.3))
    expected = (x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    np.testing.assert_allclose(importance_sampled_log_likelihood(model, x, n_samples=4), expected, rtol=1e-4)


def test_importance_sampling_tightens_the_bound(generator):
    torch.manual_seed(3)
    model = small_model("vae")
    x = torch.rand(2, 6, 1, 28, 28, generator=generator)
    with torch.no_grad():
        elbo = torch.stack([model(x).elbo.sum(1) for _ in range(20)]).mean(0)
    iwae = importance_sampled_log_likelihood(model, x, n_samples=20)
    assert (iwae >= elbo).all()


def test_shifting_prior_couples_each_unit_with_the_next_unit_one_step_later(generator):
    # under the TVAE prior, |t[l, c]| goes with |t[l+1, c+1]|: the roll convention of the metrics
    grouper = TopographicGrouper(1, 8, shifting_kernel(2, 1), mu_init=0.0)
    t = grouper(torch.randn(5000, 8, 1, 8, generator=generator), torch.randn(5000, 8, 1, 8, generator=generator))
    now, later = (t[:, :-1, 0] ** 2).flatten(), t[:, 1:, 0].detach() ** 2

    def corr(shift):
        return torch.corrcoef(torch.stack([now, torch.roll(later, -shift, dims=-1).flatten()]))[0, 1]

    assert corr(1) > corr(0) + 0.01 and corr(1) > corr(-1) + 0.02


def test_sanity_run_smoke():
    table = sanity_run(dataset="sprites", seq_len=4, n_caps=2, n_train=4, n_test=2, steps=2, batch_size=2,
                       width=4, n_is_samples=2, device="cpu")
    assert list(table.index) == ["tvae", "bubble_vae", "vae"]
    assert {"elbo", "log_likelihood", "equivariance_error", "relative_equivariance_error",
            "capsule_correlation", "final_loss"} <= set(table.columns)
    assert table.attrs["dataset"] == "sprites"
    assert np.isfinite(table[["elbo", "log_likelihood", "equivariance_error"]].to_numpy()).all()
