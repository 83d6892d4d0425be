"""A Topographic VAE latent space of radar rain scenes, and IMERG mapped in and out of it.

Three models share one latent space (all :class:`averse.models.tvae.TVAE`
pieces, built by :func:`build_tvae`):

1. **radar TVAE** — trained on radar scenes (:mod:`~.scenes`: patches of
   consecutive half-hour means on IMERG's 0.1° cells) by the ELBO, with the
   zero-inflated lognormal rain likelihood and the shifting topographic
   kernel, *not* circular in time (rain sequences are not cycles);
2. **IMERG decoder** — a copy of the radar decoder fine-tuned, the radar TVAE
   frozen, to give the likelihood of the colocated IMERG scene from the radar
   latent: IMERG generated from the radar scene, with IMERG's systematic errors;
3. **IMERG encoder** — a copy of the radar encoders fine-tuned on IMERG
   scenes so that they land on the radar latent of the same scene (least
   squares on the latent standardised unit by unit). Embeddings are the
   deterministic ``t = (E[z] + μ) / sqrt(W E[u²] + ε)`` (:func:`embed`). The **latent distance**
   between the radar and IMERG embeddings of a scene half hour is
   ``sqrt(mean_units(((t_imerg - t_radar) / s)²))`` with ``s`` the spread of
   each radar latent unit (:func:`latent_distance`); unrelated radar scenes
   give the chance level (:func:`chance_distance`).

Encoders read ``log1p(rain)`` and a validity channel (NaN = missing, so the
coverage edges and IMERG's unfilled cells do not poison them); the
likelihoods leave NaN pixels out. Training is a plain Adam loop,
:func:`train_steps`, which checkpoints and resumes (a killed run restarts
where it stopped). :func:`save_models` writes ``state_dict`` s plus the
plain-type :class:`LatentConfig`; :func:`load_models` reads them back with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from averse.models.tvae import TVAE, TopographicGrouper, shifting_kernel
from averse.models.tvae_sanity import resolve_device
from averse.models.vae_parts import (
    _LOG_SCALE_RANGE,
    GaussianEncoder,
    ImageDecoder,
    ZeroInflatedLogNormalLikelihood,
    conv_decoder_body,
    conv_encoder_body,
)

__all__ = [
    "LatentConfig",
    "RainInput",
    "LatentModels",
    "build_tvae",
    "train_steps",
    "fit_radar",
    "fit_imerg_decoder",
    "fit_imerg_encoder",
    "embed",
    "latent_scale",
    "latent_distance",
    "chance_distance",
    "decoded_rain",
    "log_likelihood",
    "save_models",
    "load_models",
    "resolve_device",
]


@dataclass(frozen=True)
class LatentConfig:
    """Shape of the latent models (plain types: saved beside the weights).

    Attributes
    ----------
    patch, seq_len : int
        Scene side (cells) and number of half hours.
    n_caps, cap_dim : int
        Capsules and units per capsule.
    time_extent, capsule_extent : int
        ``L`` and ``K`` of the shifting kernel (:func:`averse.models.tvae.shifting_kernel`).
    width, features : int
        Channels of the first convolution; encoder feature size.
    wet_threshold : float
        Rain (mm/h) at or below which a cell counts as dry in the likelihood.
    mu_init : float
        Initial ``μ`` of the topographic variable.
    """

    patch: int = 16
    seq_len: int = 4
    n_caps: int = 8
    cap_dim: int = 8
    time_extent: int = 1
    capsule_extent: int = 1
    width: int = 16
    features: int = 128
    wet_threshold: float = 0.1
    mu_init: float = 30.0


class RainInput(nn.Module):
    """Encoder input: ``log1p`` of the rain (NaN set to 0) and a validity channel, ``(N, 2C, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        valid = torch.isfinite(x)
        rain = torch.log1p(torch.where(valid, x, torch.zeros_like(x)).clamp_min(0.0))
        return torch.cat([rain, valid.to(x.dtype)], dim=1)


def _encoder(config: LatentConfig) -> GaussianEncoder:
    body = nn.Sequential(RainInput(), conv_encoder_body(2, config.patch, config.width, config.features))
    return GaussianEncoder(body, config.features, config.n_caps * config.cap_dim)


def _decoder(config: LatentConfig) -> ImageDecoder:
    likelihood = ZeroInflatedLogNormalLikelihood(config.wet_threshold)
    body = conv_decoder_body(config.n_caps * config.cap_dim, likelihood.n_params, config.patch, config.width)
    return ImageDecoder(body, likelihood)


def build_tvae(config: LatentConfig, grouper: TopographicGrouper | None = None) -> TVAE:
    """A rain TVAE for one-channel scenes of ``config``; ``grouper`` shares an existing one."""
    if grouper is None:
        kernel = shifting_kernel(config.time_extent, config.capsule_extent)
        grouper = TopographicGrouper(config.n_caps, config.cap_dim, kernel, config.mu_init, circular_time=False)
    return TVAE(_encoder(config), _encoder(config), _decoder(config), grouper)


class LatentModels(nn.Module):
    """The radar TVAE and the IMERG TVAE (IMERG encoders and decoder on the radar's grouper).

    Parameters
    ----------
    config : LatentConfig
    """

    def __init__(self, config: LatentConfig):
        super().__init__()
        self.config = config
        self.radar = build_tvae(config)
        self.imerg = build_tvae(config, grouper=self.radar.grouper)


def _batches(n_items: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Indices of the batch of ``step`` (a function of the step: resuming redraws the same batches)."""
    return np.random.default_rng([seed, step]).integers(n_items, size=min(batch_size, n_items))


def train_steps(module: nn.Module, parameters, loss_fn, n_items: int, steps: int, batch_size: int = 16,
                lr: float = 1e-3, seed: int = 0, checkpoint: str | os.PathLike | None = None,
                save_every: int = 100, signature: str = "") -> list[float]:
    """Adam on ``loss_fn(batch_indices)``, checkpointed every ``save_every`` steps and resumed.

    The batch and the torch random state (posterior samples) of every step
    are a function of ``seed`` and the step only, so a resumed run repeats
    the uninterrupted one exactly (on the same device).

    Parameters
    ----------
    module : nn.Module
        Whose ``state_dict`` is checkpointed (holds ``parameters``).
    parameters : iterable of nn.Parameter
        What is trained.
    loss_fn : callable
        ``loss_fn(indices: ndarray) -> scalar tensor`` for a batch of items.
    n_items, steps, batch_size, lr, seed
        Items to draw from, total steps, batch size, learning rate, seed of the batches.
    checkpoint : path-like, optional
        File of the checkpoint; an existing one with the same ``signature`` is resumed
        (one with another signature is ignored with a warning and overwritten).
    save_every : int
        Steps between checkpoints (and one at the end).
    signature : str
        What the run is (config, data shape): a checkpoint of another run is never resumed.

    Returns
    -------
    list of float
        The loss of every step since the start (resumed ones included).
    """
    parameters = list(parameters)
    optimiser = torch.optim.Adam(parameters, lr=lr)
    losses: list[float] = []
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("signature") == signature:
            module.load_state_dict(state["module"])
            optimiser.load_state_dict(state["optimiser"])
            losses = list(state["losses"])
        else:
            warnings.warn(f"{path} holds another run ({state.get('signature')!r}); starting afresh", stacklevel=2)
    module.train()
    device = parameters[0].device if parameters else torch.device("cpu")
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):  # caller RNG untouched
        for step in range(len(losses), steps):
            torch.manual_seed(seed * 1_000_003 + step)  # the posterior samples too are a function of the step
            loss = loss_fn(_batches(n_items, batch_size, seed, step))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            if path is not None and ((step + 1) % save_every == 0 or step + 1 == steps):
                _atomic_save({"signature": signature, "module": module.state_dict(),
                              "optimiser": optimiser.state_dict(), "losses": losses}, path)
    module.eval()
    return losses


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _on(device: torch.device, x: torch.Tensor, index) -> torch.Tensor:
    return x[torch.as_tensor(index)].to(device)


def _signature(models: LatentModels, what: str, *arrays: torch.Tensor) -> str:
    return f"{what} {asdict(models.config)} " + " ".join(str(tuple(a.shape)) for a in arrays)


def fit_radar(models: LatentModels, x: torch.Tensor, steps: int, batch_size: int = 16, lr: float = 1e-3,
              seed: int = 0, checkpoint=None) -> list[float]:
    """Train the radar TVAE on radar scenes ``x`` ``(N, T, 1, P, P)`` by the negative ELBO (nats per map)."""
    device = next(models.parameters()).device
    return train_steps(models.radar, models.radar.parameters(), lambda i: models.radar(_on(device, x, i)).loss(),
                       len(x), steps, batch_size, lr, seed, checkpoint, signature=_signature(models, "radar", x))


@contextmanager
def _frozen(module: nn.Module):
    """``module``'s parameters take no gradient inside the block (the radar TVAE under the IMERG heads)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags):
            parameter.requires_grad_(flag)


def fit_imerg_decoder(models: LatentModels, x_radar: torch.Tensor, x_imerg: torch.Tensor, steps: int,
                      batch_size: int = 16, lr: float = 1e-3, seed: int = 0, checkpoint=None) -> list[float]:
    """Train the IMERG decoder on colocated scenes: ``-log p(IMERG | t)``, ``t`` drawn from the radar posterior.

    It starts from the radar decoder's weights (IMERG is radar-like rain);
    the radar TVAE is frozen. Returns the loss (nats per map) of every step.
    """
    device = next(models.parameters()).device
    decoder = models.imerg.decoder
    decoder.load_state_dict(models.radar.decoder.state_dict())

    def loss(index):
        with torch.no_grad():
            t = models.radar.encode(_on(device, x_radar, index)).t
        target = _on(device, x_imerg, index)
        return -models.imerg.log_px(models.imerg.decode(t), target).mean()

    with _frozen(models.radar):
        return train_steps(decoder, decoder.parameters(), loss, len(x_radar), steps, batch_size, lr, seed,
                           checkpoint, signature=_signature(models, "imerg decoder", x_radar, x_imerg))


def fit_imerg_encoder(models: LatentModels, x_radar: torch.Tensor, x_imerg: torch.Tensor, steps: int,
                      batch_size: int = 16, lr: float = 1e-3, seed: int = 0, checkpoint=None,
                      scale: torch.Tensor | None = None) -> list[float]:
    """Train the IMERG encoders to put IMERG scenes on the radar latent of the same scenes.

    They start from the radar encoders' weights. The loss is the mean squared
    difference of the deterministic latents ``t`` (:func:`embed`; IMERG minus radar),
    divided by ``scale²`` (:func:`latent_scale` of the radar latents by
    default). Returns the loss of every step.
    """
    device = next(models.parameters()).device
    models.imerg.z_encoder.load_state_dict(models.radar.z_encoder.state_dict())
    models.imerg.u_encoder.load_state_dict(models.radar.u_encoder.state_dict())
    target = embed(models.radar, x_radar)
    scale = (latent_scale(target) if scale is None else scale).to(device)
    encoders = nn.ModuleList([models.imerg.z_encoder, models.imerg.u_encoder])

    def loss(index):
        t = _posterior_mean_t(models.imerg, _on(device, x_imerg, index))
        return (((t - target[torch.as_tensor(index)].to(device)) / scale) ** 2).mean()

    with _frozen(models.radar):
        return train_steps(encoders, encoders.parameters(), loss, len(x_radar), steps, batch_size, lr, seed,
                           checkpoint, signature=_signature(models, "imerg encoder", x_radar, x_imerg))


def _posterior_mean_t(tvae: TVAE, x: torch.Tensor) -> torch.Tensor:
    """``t = (E[z] + μ) / sqrt(W E[u²] + ε)``: the posterior means, with ``E[u²] = loc² + scale²``.

    Plugging ``E[u] = loc`` instead of ``E[u²]`` into the pooling (as
    ``TVAE.reconstruct`` does) breaks when ``q(u|x)`` stays close to its
    ``N(0, 1)`` prior: ``loc ≈ 0`` makes the denominator vanish and ``t``
    explode, far from every ``t`` the decoder saw in training.
    """
    q_z, q_u = tvae.posteriors(x)
    return tvae.grouper(q_z.loc, torch.sqrt(q_u.loc**2 + q_u.scale**2))


@torch.no_grad()
def embed(tvae: TVAE, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Deterministic latents ``t`` ``(N, T, n_caps, cap_dim)`` of scenes ``x`` (on the CPU).

    ``t = (E[z] + μ) / sqrt(W E[u²] + ε)`` under the posteriors (see
    :func:`_posterior_mean_t`).
    """
    device = next(tvae.parameters()).device
    was_training = tvae.training
    tvae.eval()
    out = [_posterior_mean_t(tvae, batch.to(device)).cpu() for batch in x.split(batch_size)]
    tvae.train(was_training)
    n_caps, cap_dim = tvae.capsule_shape
    return torch.cat(out) if out else torch.zeros(0, x.shape[1], n_caps, cap_dim)


@torch.no_grad()
def decoded_rain(tvae: TVAE, t: torch.Tensor, statistic: str = "median", batch_size: int = 256) -> torch.Tensor:
    """Maps ``(N, T, 1, P, P)`` (mm/h) decoded from latents ``t`` by ``tvae``'s zero-inflated lognormal.

    Parameters
    ----------
    tvae : TVAE
        With a :class:`~averse.models.vae_parts.ZeroInflatedLogNormalLikelihood` decoder.
    t : torch.Tensor
        ``(N, T, n_caps, cap_dim)``.
    statistic : {"median", "mean"}
        ``"median"`` of the hurdle distribution: 0 where the cell is more
        likely dry, else the lognormal quantile ``1 - 0.5 / p_wet`` (always
        finite); ``"mean"``: the expectation ``p_wet exp(m + s²/2)``, which
        a wide predicted ``s`` makes huge (an undertrained decoder overflows).
    batch_size : int
        Latents decoded at once.
    """
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    device = next(tvae.parameters()).device
    maps = []
    for batch in t.split(batch_size):
        params = tvae.decode(batch.to(device)).flatten(0, 1)
        if statistic == "mean":
            rain = tvae.decoder.mean(params)
        else:
            wet_logit, log_loc, log_scale = tvae.decoder.likelihood.split(params)
            p_wet = torch.sigmoid(wet_logit)
            quantile = torch.special.ndtri((1.0 - 0.5 / p_wet).clamp(1e-6, 1 - 1e-6))
            wet_median = torch.exp(log_loc + log_scale.clamp(*_LOG_SCALE_RANGE).exp() * quantile)
            rain = torch.where(p_wet > 0.5, wet_median, torch.zeros_like(wet_median))
        maps.append(rain.reshape(*batch.shape[:2], *rain.shape[1:]).cpu())
    return torch.cat(maps)


@torch.no_grad()
def log_likelihood(tvae: TVAE, t: torch.Tensor, x: torch.Tensor, batch_size: int = 256) -> float:
    """Mean ``log p(x | t)`` per map (nats) under ``tvae``'s decoder; NaN cells are left out."""
    device = next(tvae.parameters()).device
    total = [tvae.log_px(tvae.decode(tb.to(device)), xb.to(device)).cpu()
             for tb, xb in zip(t.split(batch_size), x.split(batch_size))]
    return float(torch.cat(total).mean()) if total else float("nan")


def latent_scale(t: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """Spread (standard deviation over scenes and steps) of every latent unit, ``(n_caps, cap_dim)``."""
    return t.flatten(0, 1).std(dim=0).clamp_min(floor)


def latent_distance(t_a: torch.Tensor, t_b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Root-mean-square standardised difference of two embeddings, per scene and step ``(N, T)``."""
    return (((t_a - t_b) / scale) ** 2).flatten(2).mean(-1).sqrt()


def chance_distance(t: torch.Tensor, scale: torch.Tensor, seed: int = 0) -> float:
    """Median :func:`latent_distance` between the latents of randomly paired different scenes."""
    if len(t) < 2:
        return float("nan")
    generator = torch.Generator().manual_seed(seed)
    shift = torch.randint(1, len(t), (len(t),), generator=generator)
    partner = (torch.arange(len(t)) + shift) % len(t)
    return float(latent_distance(t, t[partner], scale).median())


def save_models(path: str | os.PathLike, models: LatentModels, extra: dict | None = None) -> Path:
    """Write the weights and the plain-type config (and ``extra`` plain values) atomically."""
    path = Path(path)
    _atomic_save({"config": asdict(models.config), "state": models.state_dict(), "extra": dict(extra or {})}, path)
    return path


def load_models(path: str | os.PathLike, device: str = "auto") -> tuple[LatentModels, dict]:
    """Read :func:`save_models` output (``torch.load(weights_only=True)``); returns the models (eval mode) and ``extra``."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    models = LatentModels(LatentConfig(**state["config"]))
    models.load_state_dict(state["state"])
    return models.to(resolve_device(device)).eval(), state.get("extra", {})
