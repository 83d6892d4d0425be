"""Scenes cut where they say they are; the latent models train, resume, save, load and measure distances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from averse.imerg_validation.inspection import capsule_traversal, nearest_scenes, pca, roll_steps, scene_descriptors
from averse.imerg_validation.latent import (
    LatentConfig,
    LatentModels,
    chance_distance,
    embed,
    decoded_rain,
    fit_imerg_decoder,
    fit_imerg_encoder,
    fit_radar,
    latent_distance,
    latent_scale,
    load_models,
    log_likelihood,
    save_models,
)
from averse.imerg_validation.scenes import cut_scenes, time_folds

TINY = LatentConfig(patch=8, seq_len=3, n_caps=2, cap_dim=4, time_extent=1, width=4, features=16)


def _coded_field(n_time=10, ny=12, nx=14):
    """Value = 10000 t + 100 y + x: every cell says where it is."""
    t, y, x = np.meshgrid(np.arange(n_time), np.arange(ny), np.arange(nx), indexing="ij")
    return (10000 * t + 100 * y + x).astype("float32")


def _rain_scenes(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.gamma(0.3, 3.0, (n, TINY.seq_len, 1, TINY.patch, TINY.patch)).astype("float32")
    x[x < 0.2] = 0.0
    x[:, :, :, 0, :2] = np.nan  # missing cells must not break anything
    return torch.from_numpy(x)


def test_scenes_are_cut_where_they_say_and_never_span_a_gap():
    times = pd.date_range("2021-06-01T00:30", periods=10, freq="30min").delete(6)  # a missing half hour
    field = _coded_field(n_time=times.size)
    scenes = cut_scenes(field, times.values, patch=4, seq_len=3, space_stride=5, max_missing=0.0)
    assert len(scenes) > 0 and scenes.x.shape[1:] == (3, 1, 4, 4)
    for i in range(len(scenes)):
        t0, r, c = scenes.time_index[i, 0], scenes.row[i], scenes.col[i]
        assert scenes.x[i, 0, 0, 0, 0] == 10000 * t0 + 100 * r + c
        assert scenes.x[i, -1, 0, -1, -1] == 10000 * scenes.time_index[i, -1] + 100 * (r + 3) + c + 3
        assert (np.diff(scenes.time[i]) == np.timedelta64(30, "m")).all()
    np.testing.assert_array_equal(scenes.cut(field)[:, :, None], scenes.x.numpy())
    corners = sorted(set(zip(scenes.row, scenes.col)))
    assert corners == [(r, c) for r in (0, 5) for c in (0, 5, 10)]


def test_scenes_with_too_many_missing_cells_are_dropped():
    field = _coded_field()
    field[:, :6, :] = np.nan
    times = pd.date_range("2021-06-01T00:30", periods=field.shape[0], freq="30min").values
    scenes = cut_scenes(field, times, patch=6, seq_len=2, space_stride=6, max_missing=0.25)
    assert set(scenes.row) == {6}


def test_time_folds_share_no_half_hour():
    times = pd.date_range("2021-06-01T00:30", periods=24, freq="30min").values
    scenes = cut_scenes(_coded_field(24), times, patch=8, seq_len=3, space_stride=4)
    folds = time_folds(scenes, 2, block=6)
    evaluated = np.zeros(len(scenes), int)
    for train, evaluate in folds:
        assert not set(scenes.time_index[train].ravel()) & set(scenes.time_index[evaluate][:, 0])
        evaluated += evaluate
    np.testing.assert_array_equal(evaluated, 1)


def test_training_resumes_exactly_where_it_stopped(tmp_path):
    x = _rain_scenes()

    def run(steps, checkpoint):
        torch.manual_seed(0)
        models = LatentModels(TINY)
        return fit_radar(models, x, steps, batch_size=4, checkpoint=checkpoint), models

    straight, reference = run(6, None)
    first, _ = run(3, tmp_path / "radar.pt")        # "killed" after 3 steps
    resumed, models = run(6, tmp_path / "radar.pt")  # same call, more steps: starts at step 3
    assert np.isfinite(straight).all()
    assert first == straight[:3]
    np.testing.assert_allclose(resumed, straight, rtol=1e-5)
    for a, b in zip(reference.parameters(), models.parameters()):
        torch.testing.assert_close(a, b)


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(1)
    models = LatentModels(TINY).eval()
    x = _rain_scenes(4)
    path = save_models(tmp_path / "models.pt", models, {"trained_on": "noise"})
    loaded, extra = load_models(path, device="cpu")
    assert extra == {"trained_on": "noise"} and loaded.config == TINY
    torch.testing.assert_close(embed(loaded.radar, x), embed(models.radar, x))
    assert loaded.imerg.grouper is loaded.radar.grouper


def test_imerg_heads_and_latent_distance():
    torch.manual_seed(2)
    models = LatentModels(TINY)
    radar, imerg = _rain_scenes(8, seed=3), _rain_scenes(8, seed=4)
    t_radar = embed(models.radar, radar)
    assert torch.isfinite(t_radar).all() and t_radar.shape == (8, TINY.seq_len, TINY.n_caps, TINY.cap_dim)
    scale = latent_scale(t_radar)
    # The IMERG encoder starts from the radar encoder: identical scenes are at distance 0 before training.
    fit_imerg_encoder(models, radar, radar, steps=0)
    assert float(latent_distance(embed(models.imerg, radar), t_radar, scale).max()) == pytest.approx(0, abs=1e-5)
    assert chance_distance(t_radar, scale) > 0.1
    mu_before = models.radar.grouper.mu.item()
    fit_imerg_decoder(models, radar, imerg, steps=0)  # starts from the radar decoder
    assert log_likelihood(models.imerg, t_radar, imerg) == pytest.approx(log_likelihood(models.radar, t_radar, imerg))
    decoder_loss = fit_imerg_decoder(models, radar, imerg, steps=5, batch_size=4)
    encoder_loss = fit_imerg_encoder(models, radar, imerg, steps=5, batch_size=4)
    assert np.isfinite(decoder_loss).all() and np.isfinite(encoder_loss).all()
    assert models.radar.grouper.mu.item() == mu_before  # the radar side stays frozen
    assert all(p.requires_grad for p in models.radar.parameters())
    for statistic in ("median", "mean"):
        maps = decoded_rain(models.imerg, t_radar, statistic)
        assert maps.shape == radar.shape and (maps >= 0).all()
    median = decoded_rain(models.imerg, t_radar[:1, :1])[0, 0, 0]
    assert torch.isfinite(median).all()
    params = models.imerg.decode(t_radar[:1, :1])[0].detach().double()
    wet_logit, log_loc, log_scale = (p[0, 0].numpy() for p in models.imerg.decoder.likelihood.split(params))
    p_wet = 1 / (1 + np.exp(-wet_logit))
    sigma = np.exp(np.clip(log_scale, -7, 5))  # the likelihood's clamp of log s
    expected = np.where(p_wet > 0.5, stats.lognorm.ppf(np.clip(1 - 0.5 / p_wet, 1e-6, 1), sigma, scale=np.exp(log_loc)), 0)
    np.testing.assert_allclose(median.numpy(), expected, rtol=1e-3)


def test_inspection_helpers():
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0]) / 5.0
    values = rng.normal(size=(200, 1)) * 5 * direction + rng.normal(size=(200, 2)) * 0.1
    scores, ratio = pca(values, 2)
    assert ratio[0] > 0.99 and abs(np.corrcoef(scores[:, 0], values @ direction)[0, 1]) > 0.999
    assert list(nearest_scenes(np.array([[0.0], [5.0], [1.0], [2.0]]), 0, k=2)) == [2, 3]

    torch.manual_seed(0)
    models = LatentModels(TINY).eval()
    t = embed(models.radar, _rain_scenes(6))
    maps = capsule_traversal(models.radar, t[0, 0], shifts=[0, 1, 2])
    assert maps.shape == (TINY.n_caps, 3, TINY.patch, TINY.patch)
    torch.testing.assert_close(maps[1, 0], decoded_rain(models.radar, t[:1, :1])[0, 0, 0], rtol=1e-4, atol=1e-6)
    observed, shuffled = roll_steps(t)
    assert observed.sum() == shuffled.sum() == 6 * (TINY.seq_len - 1) and observed.size == TINY.cap_dim

    times = pd.date_range("2021-06-01T00:30", periods=4, freq="30min").values
    field = np.zeros((4, 8, 8), "float32")
    field[:, :4] = 2.0
    described = scene_descriptors(cut_scenes(field, times, patch=8, seq_len=2), wet_threshold=0.1, longitude=15.0)
    assert described[["rain", "area", "intensity"]].iloc[0].tolist() == pytest.approx([1.0, 0.5, 2.0])
    assert described["hour"].iloc[0] == pytest.approx(1.25)  # middle of 00:00-00:30 UTC + 1 h of longitude


def test_embedding_is_near_the_posterior_mean_of_t():
    torch.manual_seed(3)
    models = LatentModels(TINY).eval()
    x = _rain_scenes(4)
    with torch.no_grad():
        q_z, q_u = models.radar.posteriors(x)
        sampled = torch.stack([models.radar.sample(q_z, q_u).t for _ in range(500)]).mean(0)
        plug_in_loc = models.radar.grouper(q_z.loc, q_u.loc)  # E[u] in place of E[u^2]: what TVAE.reconstruct uses
    relative = ((embed(models.radar, x) - sampled).norm() / sampled.norm()).item()
    assert relative < 0.2
    assert ((plug_in_loc - sampled).norm() / sampled.norm()).item() > 2 * relative
