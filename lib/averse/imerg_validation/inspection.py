"""Looking into the radar TVAE's latent space (notebook ``32_tvae_latent_inspection``).

- :func:`pca` — principal components of the latents with numpy (no scikit-learn);
- :func:`scene_descriptors` — what each scene half hour holds: mean rain,
  wet area, intensity of the wet cells, local solar hour — to colour the projection;
- :func:`capsule_traversal` — the maps decoded when one capsule's activation
  pattern is rolled by ``s`` units, the transformation a TVAE capsule is
  meant to encode, all other capsules fixed;
- :func:`roll_steps` — the roll of the capsules from one half hour to the
  next (:func:`averse.verify.latent.capsule_roll_offsets`) against the same
  with the steps shuffled;
- :func:`nearest_scenes` — the scene half hours closest in the standardised latent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from averse.imerg_validation.latent import decoded_rain
from averse.imerg_validation.scenes import Scenes
from averse.models.tvae import TVAE
from averse.verify.latent import capsule_roll_offsets

__all__ = ["pca", "scene_descriptors", "capsule_traversal", "roll_steps", "nearest_scenes"]


def pca(values: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Scores on the first ``k`` principal components and their share of the variance.

    Parameters
    ----------
    values : ndarray
        ``(M, D)`` samples (standardise the units first if their scales differ).
    k : int
        Components kept.

    Returns
    -------
    (ndarray, ndarray)
        ``(M, k)`` scores and ``(k,)`` explained-variance ratios.
    """
    centred = np.asarray(values, dtype="float64") - np.mean(values, axis=0)
    _, singular, vectors = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    return centred @ vectors[:k].T, variance[:k] / variance.sum()


def scene_descriptors(scenes: Scenes, wet_threshold: float = 0.1, longitude: float = 0.0,
                      channel: int = 0) -> pd.DataFrame:
    """One row per scene half hour (scene-major): what the map holds and when.

    Parameters
    ----------
    scenes : Scenes
    wet_threshold : float
        Rain (mm/h) above which a cell is wet.
    longitude : float
        Of the scenes (degrees east), for the local solar hour.
    channel : int
        Channel described.

    Returns
    -------
    pandas.DataFrame
        ``scene``, ``step``, ``time`` (END, UTC), ``rain`` (mean mm/h),
        ``area`` (wet fraction of the valid cells), ``intensity`` (mean of the
        wet cells, mm/h; 0 when none), ``hour`` (local solar hour of the
        half hour's middle).
    """
    maps = scenes.x[:, :, channel].flatten(2).numpy().astype("float64")
    valid = np.isfinite(maps)
    wet = valid & (maps > wet_threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        rain = np.nansum(maps, axis=-1) / valid.sum(-1)
        area = wet.sum(-1) / valid.sum(-1)
        intensity = np.where(wet.any(-1), np.where(wet, maps, 0).sum(-1) / np.maximum(wet.sum(-1), 1), 0.0)
    times = pd.DatetimeIndex(scenes.time.ravel())
    middle = times - pd.Timedelta("15min") + pd.Timedelta(hours=longitude / 15.0)
    n, steps = maps.shape[:2]
    return pd.DataFrame({
        "scene": np.repeat(np.arange(n), steps), "step": np.tile(np.arange(steps), n), "time": times,
        "rain": rain.ravel(), "area": area.ravel(), "intensity": intensity.ravel(),
        "hour": (middle.hour + middle.minute / 60.0).values,
    })


@torch.no_grad()
def capsule_traversal(tvae: TVAE, t: torch.Tensor, shifts) -> torch.Tensor:
    """Decoded maps (median rain, :func:`~.latent.decoded_rain`) with each capsule of one latent rolled by each shift.

    Parameters
    ----------
    tvae : TVAE
        Its decoder draws the maps.
    t : torch.Tensor
        ``(n_caps, cap_dim)``: one half hour's latent.
    shifts : sequence of int
        Rolls (units, ``torch.roll`` sign).

    Returns
    -------
    torch.Tensor
        ``(n_caps, len(shifts), P, P)`` mm/h.
    """
    n_caps = t.shape[0]
    rolled = []
    for capsule in range(n_caps):
        for shift in shifts:
            one = t.clone()
            one[capsule] = torch.roll(t[capsule], int(shift))
            rolled.append(one)
    latents = torch.stack(rolled)[:, None]  # (n_caps * n_shifts, 1, n_caps, cap_dim)
    maps = decoded_rain(tvae, latents)[:, 0, 0]
    return maps.reshape(n_caps, len(shifts), *maps.shape[-2:])


def roll_steps(t: torch.Tensor, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Capsule roll between consecutive half hours, and the same with the steps of each scene shuffled.

    Parameters
    ----------
    t : torch.Tensor
        ``(N, T, n_caps, cap_dim)`` latents.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    (ndarray, ndarray)
        Counts of each roll ``0..cap_dim-1`` (mod ``cap_dim``), observed and shuffled.
    """
    cap_dim = t.shape[-1]
    generator = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(t.shape[1], generator=generator) for _ in range(t.shape[0])])
    shuffled = torch.take_along_dim(t, order[:, :, None, None], dim=1)

    def counts(latents):
        offsets = capsule_roll_offsets(latents)
        steps = (offsets[:, 1:] - offsets[:, :-1]) % cap_dim
        return np.bincount(steps.flatten().numpy(), minlength=cap_dim)

    return counts(t), counts(shuffled)


def nearest_scenes(flat: np.ndarray, query: int, k: int = 5) -> np.ndarray:
    """Indices of the ``k`` rows of ``flat`` (standardised latents) nearest to row ``query``, itself excluded."""
    distance = np.linalg.norm(flat - flat[query], axis=1)
    distance[query] = np.inf
    return np.argsort(distance)[:k]
