"""The steps the notebooks 31-33 chain: training scenes, the radar TVAE, the IMERG heads, the latent distance.

- :func:`radar_training_scenes` — radar of any source (twin, MeteoNet...) to
  scenes of sliding half-hour means on a 0.1° grid;
- :func:`latent_config`, :func:`train_or_load` — the model saved by notebook 31 when there is one,
  else a radar TVAE trained in place (the notebook says which);
- :func:`colocated_scenes` — radar and IMERG scenes of the same cells and half hours;
- :func:`cross_fitted_distance` — IMERG heads trained on other time blocks
  than the scenes they score, so every latent distance is out of sample.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from averse.grid import RegularGrid, latlon_grid_covering
from averse.imerg_validation.colocation import frames_on_grid, sliding_half_hours
from averse.imerg_validation.latent import (
    LatentConfig,
    LatentModels,
    chance_distance,
    embed,
    fit_imerg_encoder,
    fit_radar,
    latent_distance,
    latent_scale,
    load_models,
    resolve_device,
)
from averse.imerg_validation.scenes import Scenes, cut_scenes, time_folds

__all__ = ["latent_config", "radar_training_scenes", "train_or_load", "colocated_scenes", "cross_fitted_distance"]


def latent_config(model_path: str | os.PathLike | None, **defaults) -> LatentConfig:
    """The config saved with the models at ``model_path`` when the file exists, else ``LatentConfig(**defaults)``."""
    if model_path and Path(model_path).is_file():
        return LatentConfig(**torch.load(Path(model_path), map_location="cpu", weights_only=True)["config"])
    return LatentConfig(**defaults)


def radar_training_scenes(radar: xr.DataArray, config: LatentConfig, target: RegularGrid | None = None,
                          space_stride: int = 4, time_stride: int = 1, max_missing: float = 0.25) -> Scenes:
    """Scenes of radar half-hour means ending at every frame, on ``target`` (0.1° by default).

    Parameters
    ----------
    radar : xr.DataArray
        ``(time, y, x)`` radar rain (mm/h), frames stamped at their END.
    config : LatentConfig
        Scene side and length.
    target : RegularGrid, optional
        Grid of the scenes; IMERG's 0.1° cells over the radar domain by default.
    space_stride, time_stride, max_missing
        See :func:`averse.imerg_validation.scenes.cut_scenes` (``time_stride`` in radar frames).
    """
    target = target or latlon_grid_covering(RegularGrid.from_dataset(radar), 0.1)
    frames, _ = frames_on_grid(radar, target)
    if frames.sizes["time"] < 2:
        return cut_scenes(np.full((0,) + target.shape, np.nan), np.array([], "datetime64[ns]"), config.patch,
                          config.seq_len)
    half_hours = sliding_half_hours(frames).load()
    return cut_scenes(half_hours.values, half_hours["time"].values, config.patch, config.seq_len,
                      space_stride=space_stride, time_stride=time_stride, max_missing=max_missing)


def train_or_load(model_path: str | os.PathLike | None, scenes: Scenes | None, config: LatentConfig,
                  steps: int, batch_size: int = 16, lr: float = 1e-3, seed: int = 0, device: str = "auto",
                  checkpoint=None) -> tuple[LatentModels, str]:
    """The models saved at ``model_path`` if the file exists, else a radar TVAE trained on ``scenes``.

    Returns
    -------
    (LatentModels, str)
        The models (eval mode) and a sentence saying where they come from.
    """
    if model_path and Path(model_path).is_file():
        models, extra = load_models(model_path, device)
        return models, f"loaded {model_path} (trained on {extra.get('trained_on', 'unknown data')})"
    if scenes is None or len(scenes) == 0:
        raise ValueError(f"no model at {model_path!r} and no radar scenes to train one on")
    torch.manual_seed(seed)
    models = LatentModels(config).to(resolve_device(device))
    losses = fit_radar(models, scenes.x, steps, batch_size, lr, seed, checkpoint)
    return models.eval(), (f"no model at {model_path!r}: trained a radar TVAE here for {steps} steps on "
                           f"{len(scenes)} scenes (final loss {np.mean(losses[-max(1, steps // 10):]):.1f} nats/map)")


def colocated_scenes(colocated: xr.Dataset, config: LatentConfig, reference: str = "radar", space_stride: int = 4,
                     max_missing: float = 0.25) -> Scenes:
    """Scenes of the reference (channel 0) and IMERG ``precipitation`` (channel 1) on the same cells and half hours."""
    fields = [colocated[name].transpose("time", "y", "x").values for name in (reference, "precipitation")]
    return cut_scenes(fields, colocated["time"].values, config.patch, config.seq_len, space_stride=space_stride,
                      time_stride=1, max_missing=max_missing)


def cross_fitted_distance(models: LatentModels, pairs: Scenes, steps: int, n_folds: int = 2, batch_size: int = 16,
                          lr: float = 1e-4, seed: int = 0) -> dict:
    """Latent distance between the radar and IMERG embeddings of every scene half hour, out of sample.

    For each fold of :func:`~averse.imerg_validation.scenes.time_folds`
    (blocks of twice the scene length), the IMERG encoder is trained on the
    scenes of the other folds and embeds the scenes of this one. Finally it
    is trained on all scenes (the encoder kept in ``models`` for later use).

    Parameters
    ----------
    models : LatentModels
        With a trained radar TVAE; its IMERG encoder is overwritten.
    pairs : Scenes
        From :func:`colocated_scenes` (channel 0 radar, channel 1 IMERG).
    steps, n_folds, batch_size, lr, seed
        Training of each IMERG encoder (a fine-tuning of the radar encoder:
        a small ``lr``); ``n_folds=1`` trains once on all and scores in
        sample (said in the result).

    Returns
    -------
    dict
        ``distance`` ``(N, T)`` (NaN for scenes no fold evaluated), ``zero_shot``
        (the radar encoder applied to IMERG, no training), ``chance`` (median
        distance between unrelated radar scenes), ``t_radar``, ``t_imerg``
        (``(N, T, n_caps, cap_dim)``), ``scale``, ``in_sample`` (bool) and
        ``losses`` of the final training.
    """
    x_radar, x_imerg = pairs.x[:, :, :1], pairs.x[:, :, 1:]
    t_radar = embed(models.radar, x_radar)
    scale = latent_scale(t_radar)
    distance = torch.full(t_radar.shape[:2], float("nan"))
    t_imerg = torch.full_like(t_radar, float("nan"))
    folds = time_folds(pairs, n_folds, 2 * pairs.x.shape[1]) if n_folds > 1 else []
    for train, evaluate in folds:
        if not train.any() or not evaluate.any():
            continue
        fit_imerg_encoder(models, x_radar[train], x_imerg[train], steps, batch_size, lr, seed, scale=scale)
        t_imerg[evaluate] = embed(models.imerg, x_imerg[evaluate])
        distance[evaluate] = latent_distance(t_imerg[evaluate], t_radar[evaluate], scale)
    zero_shot = latent_distance(embed(models.radar, x_imerg), t_radar, scale)
    losses = fit_imerg_encoder(models, x_radar, x_imerg, steps, batch_size, lr, seed, scale=scale)
    in_sample = not folds
    if in_sample:
        t_imerg = embed(models.imerg, x_imerg)
        distance = latent_distance(t_imerg, t_radar, scale)
    return {"distance": distance.numpy(), "zero_shot": zero_shot.numpy(), "chance": chance_distance(t_radar, scale, seed),
            "t_radar": t_radar, "t_imerg": t_imerg, "scale": scale, "in_sample": in_sample, "losses": losses}
