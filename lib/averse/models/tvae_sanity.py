"""Small reproduction of the Topographic VAE's equivariance result (notebook ``30_tvae_mnist``).

Trains a TVAE, a BubbleVAE and a plain VAE (:mod:`averse.models.tvae`) for a
short while on cyclically transformed sequences
(:mod:`averse.data.sequences`) and scores them with
:mod:`averse.verify.latent`. Keller & Welling (2021, table 1) report the
equivariance error ordering TVAE < BubbleVAE < VAE and a better likelihood
for the TVAE on transformed test sequences; :func:`sanity_run` checks whether
the ordering shows up at a size that runs in minutes on a CPU.

Sequences are generated once into memory (a few thousand frames) so that the
training loop spends its time in the networks.
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from averse.data.sequences import CyclicSequences, SpriteSequences, TransformedMNIST
from averse.errors import DataNotFoundError
from averse.models import get
from averse.verify.latent import (
    capsule_correlation,
    capsule_roll_accuracy,
    equivariance_error,
    importance_sampled_log_likelihood,
    random_equivariance_error,
    relative_equivariance_error,
)

__all__ = ["resolve_device", "make_sequences", "materialise", "train_sequence_model", "evaluate", "sanity_run"]

DEFAULT_MODELS = ("tvae", "bubble_vae", "vae")


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; any other name is passed to :class:`torch.device`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def make_sequences(dataset: str, n_sequences: int, seq_len: int, seed: int,
                   first_image: int = 0) -> tuple[CyclicSequences, str]:
    """Build the sequence dataset and say which one it is.

    Parameters
    ----------
    dataset : {"auto", "mnist", "sprites"}
        ``"mnist"``: :class:`TransformedMNIST` from the ``mnist_test`` catalog
        entry (rotation and scale, 1 channel); ``"sprites"``:
        :class:`SpriteSequences` at 28×28; ``"auto"``: MNIST when
        ``AVERSE_DATA`` holds it, else sprites.
    n_sequences, seq_len, seed : int
        Size, period and seed of the dataset.
    first_image : int
        MNIST only: index of the first test image used (keeps train and test apart).

    Raises
    ------
    averse.errors.DataNotFoundError
        ``dataset="mnist"`` without the data.
    """
    if dataset not in ("auto", "mnist", "sprites"):
        raise ValueError(f"dataset must be 'auto', 'mnist' or 'sprites', got {dataset!r}")
    if dataset in ("auto", "mnist"):
        try:
            mnist = TransformedMNIST.from_catalog(start=first_image, stop=first_image + n_sequences,
                                                  seq_len=seq_len, transforms=("rotation", "scale"), seed=seed)
        except DataNotFoundError:
            if dataset == "mnist":
                raise
        else:
            return mnist, "mnist"
    return SpriteSequences(n_sequences, seq_len, image_size=28, seed=seed), "sprites"


def materialise(sequences: CyclicSequences) -> tuple[torch.Tensor, torch.Tensor]:
    """All items as tensors: frames ``(N, T, C, H, W)`` and transformation index ``(N,)``."""
    items = [sequences[i] for i in range(len(sequences))]
    return torch.stack([frames for frames, _ in items]), torch.tensor([info["transform"] for _, info in items])


def train_sequence_model(model: torch.nn.Module, x: torch.Tensor, steps: int, batch_size: int = 8,
                         lr: float = 1e-3, seed: int = 0) -> list[float]:
    """Fit ``model`` to the sequences ``x`` with Adam on the negative ELBO.

    ``x`` is on the model's device. Returns the loss (nats per frame) of every step.
    """
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        batch = x[torch.randint(len(x), (batch_size,), generator=generator).to(x.device)]
        loss = model(batch).loss()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, n_is_samples: int = 10, batch_size: int = 16,
             seed: int = 0) -> dict[str, float]:
    """Scores of a trained model on test sequences ``x`` ``(N, T, C, H, W)``.

    Returns
    -------
    dict
        ``elbo`` and ``log_likelihood`` (IWAE with ``n_is_samples``), nats per
        frame; ``equivariance_error`` (paper's ``E_eq`` from the first frame,
        per sequence, on the posterior-mean latents); ``equivariance_error_random``
        (its value for isotropic random latents of the same shape);
        ``relative_equivariance_error`` (against shuffled frames);
        ``capsule_correlation`` and ``capsule_roll_accuracy`` (chance: 1/cap_dim).
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    elbo, log_lik, latents = [], [], []
    for batch in x.split(batch_size):
        elbo.append(model(batch).elbo.mean(1))
        log_lik.append(importance_sampled_log_likelihood(model, batch, n_is_samples) / batch.shape[1])
        q_z, q_u = model.posteriors(batch)
        latents.append(model.grouper(q_z.loc, q_u.loc if q_u is not None else None).cpu())
    t = torch.cat(latents)
    return {
        "elbo": torch.cat(elbo).mean().item(),
        "log_likelihood": torch.cat(log_lik).mean().item(),
        "equivariance_error": equivariance_error(t).mean().item(),
        "equivariance_error_random": random_equivariance_error(*t.shape[1:]),
        "relative_equivariance_error": relative_equivariance_error(t, generator).mean().item(),
        "capsule_correlation": capsule_correlation(t),
        "capsule_roll_accuracy": capsule_roll_accuracy(t),
    }


def sanity_run(dataset: str = "auto", models: tuple[str, ...] = DEFAULT_MODELS, seq_len: int = 8,
               n_caps: int = 8, n_train: int = 512, n_test: int = 64, steps: int = 300, batch_size: int = 8,
               lr: float = 1e-3, width: int = 16, mu_init: float = 30.0, n_is_samples: int = 10,
               device: str = "auto", seed: int = 0) -> pd.DataFrame:
    """Train each model briefly on the same sequences and score it on held-out ones.

    Parameters
    ----------
    dataset : {"auto", "mnist", "sprites"}
        See :func:`make_sequences`.
    models : tuple of str
        Registry names among ``"tvae"``, ``"bubble_vae"``, ``"vae"``.
    seq_len : int
        Period ``T`` of the transformations, also the capsule size.
    n_caps : int
        Number of capsules.
    n_train, n_test : int
        Sequences to train on and to score (from disjoint images for MNIST).
    steps, batch_size, lr : int, int, float
        Adam steps, sequences per step, learning rate.
    width : int
        Channels of the first convolution of the encoders/decoder.
    mu_init : float
        Initial ``μ`` of the topographic models.
    n_is_samples : int
        Importance samples of the log-likelihood.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``…
    seed : int
        Seeds data, initialisation and training.

    Returns
    -------
    pandas.DataFrame
        One row per model with the columns of :func:`evaluate` plus
        ``final_loss`` (mean of the last 10% of steps) and ``train_seconds``;
        ``attrs`` holds the dataset used and the settings.
    """
    target = resolve_device(device)
    train_set, used = make_sequences(dataset, n_train, seq_len, seed)
    test_set, _ = make_sequences(used, n_test, seq_len, seed + 1, first_image=n_train)
    x_train, x_test = (materialise(part)[0].to(target) for part in (train_set, test_set))
    shape = {"image_size": x_train.shape[-1], "channels": x_train.shape[2], "n_caps": n_caps, "cap_dim": seq_len,
             "width": width}
    # the paper's TVAE pools 2L+1 = 13 of its 18 steps (L ≈ T/3); its BubbleVAE 5 steps × 3 units
    kernels = {"tvae": {"time_extent": max(1, seq_len // 3), "mu_init": mu_init},
               "bubble_vae": {"time_extent": min(2, seq_len // 2), "mu_init": mu_init}, "vae": {}}
    rows = {}
    for name in models:
        torch.manual_seed(seed)
        model = get(name, **shape, **kernels[name]).to(target)
        started = time.perf_counter()
        losses = train_sequence_model(model, x_train, steps, batch_size, lr, seed)
        seconds = time.perf_counter() - started
        rows[name] = {**evaluate(model, x_test, n_is_samples, seed=seed),
                      "final_loss": sum(losses[-max(1, steps // 10):]) / max(1, steps // 10),
                      "train_seconds": seconds}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs.update(dataset=used, seq_len=seq_len, n_caps=n_caps, n_train=n_train, n_test=n_test, steps=steps,
                       batch_size=batch_size, device=str(target))
    return table
