"""Cyclically transformed image sequences for the Topographic VAE sanity checks.

Two torch datasets of sequences in which *one* transformation advances by one
step per frame and wraps around after ``seq_len`` steps, so that a capsule of
``cap_dim = seq_len`` units can represent it as a roll (Keller & Welling
2021, section 6):

* :class:`TransformedMNIST` — MNIST digits under rotation (``360°/T`` per
  step: 18 steps of 20° by default), scale (``T`` values from 0.60 to 1.26, the
  paper's set, restarting after the last) or colour (hue turned by ``360°/T``
  per step; the digit is drawn in a fully saturated colour, 3 channels).
  In each sequence one transformation varies, starting at a random phase; the
  other listed transformations are held at a random value of their set.
  Images come from the real MNIST test set (:meth:`TransformedMNIST.from_catalog`).
* :class:`SpriteSequences` — procedurally drawn dSprites-like shapes (square,
  ellipse, heart) translated in x or y, rotated or scaled; no data needed.

Items are ``(frames, info)``: ``frames`` is float32 ``(T, C, H, W)`` in
[0, 1]; ``info`` holds ``transform`` (index into ``dataset.transforms``),
``start`` (phase of the first frame, in steps) and ``label`` (digit or shape
index). Step ``l`` of a sequence is at phase ``(start + l) % T``. Items are
generated on the fly and deterministically from ``(seed, index)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["CyclicSequences", "TransformedMNIST", "SpriteSequences", "hue_colour", "MNIST_SCALES"]

#: The paper's scale range: 0.60 … 1.26 (18 values in its experiments).
MNIST_SCALES = (0.60, 1.26)


def hue_colour(hue_degrees: float) -> np.ndarray:
    """RGB in [0, 1] of a fully saturated, full-value colour of hue ``hue_degrees`` (0 = red)."""
    k = (np.array([5.0, 3.0, 1.0]) + hue_degrees / 60.0) % 6.0
    return 1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


class CyclicSequences(Dataset):
    """Base of the cyclic sequence datasets: draws the transformation and phase of each item.

    Parameters
    ----------
    n_sequences : int
        Number of items.
    seq_len : int
        ``T``: frames per sequence, also the period of every transformation.
    transforms : sequence of str
        Transformations a sequence may apply (one per sequence, chosen uniformly).
    seed : int
        Seed of the per-item generators.

    Subclasses define ``known_transforms``, the attributes ``value_sets`` (the
    ``T`` values of each transformation, one per phase) and ``identity`` (the
    value of a transformation that is not listed), and :meth:`render`.
    """

    known_transforms: tuple[str, ...] = ()

    def __init__(self, n_sequences: int, seq_len: int, transforms: Sequence[str], seed: int):
        unknown = sorted(set(transforms) - set(self.known_transforms))
        if unknown or not transforms:
            raise ValueError(
                f"transforms must be a non-empty subset of {self.known_transforms}; got {list(transforms)}")
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2, got {seq_len}")
        self.n_sequences = int(n_sequences)
        self.seq_len = int(seq_len)
        self.transforms = tuple(transforms)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.n_sequences

    def phases(self, start: int) -> np.ndarray:
        """Phase index of each frame: ``(start + l) % T``."""
        return (start + np.arange(self.seq_len)) % self.seq_len

    def frame_values(self, rng: np.random.Generator, transform: str, start: int) -> dict[str, np.ndarray]:
        """Value of every transformation parameter at each frame, ``{name: (T,)}``.

        ``transform`` cycles through its set from phase ``start``; the other
        listed transformations are fixed at a random element of their set; the
        unlisted ones stay at their identity value.
        """
        values = {}
        for name, choices in self.value_sets.items():
            if name == transform:
                values[name] = choices[self.phases(start)]
            else:
                fixed = choices[rng.integers(len(choices))] if name in self.transforms else self.identity[name]
                values[name] = np.full(self.seq_len, fixed)
        return values

    def render(self, rng: np.random.Generator, index: int, transform: str, start: int) -> tuple[np.ndarray, int]:
        """Frames ``(T, C, H, W)`` float32 and the class label of item ``index``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, int]]:
        if not 0 <= index < self.n_sequences:
            raise IndexError(f"index {index} out of range for {self.n_sequences} sequences")
        rng = np.random.default_rng([self.seed, index])
        kind = int(rng.integers(len(self.transforms)))
        start = int(rng.integers(self.seq_len))
        frames, label = self.render(rng, index, self.transforms[kind], start)
        return torch.from_numpy(frames), {"transform": kind, "start": start, "label": int(label)}


class TransformedMNIST(CyclicSequences):
    """MNIST digits under a cyclic rotation, scaling or colour change.

    Parameters
    ----------
    images : array-like
        ``(N, H, W)`` grey images, uint8 (0–255) or float in [0, 1].
    labels : array-like, optional
        ``(N,)`` digit labels (``-1`` when not given).
    n_sequences : int, optional
        Number of items (default: one per image); item ``i`` uses image ``i % N``.
    seq_len : int
        Frames per sequence and period of the transformations (18 in the paper).
    transforms : sequence of str
        Among ``"rotation"``, ``"scale"``, ``"colour"``. With ``"colour"``
        frames have 3 channels, otherwise 1.
    seed : int
        Seed of the per-item generators.
    """

    known_transforms = ("rotation", "scale", "colour")

    def __init__(self, images, labels=None, n_sequences: int | None = None, seq_len: int = 18,
                 transforms: Sequence[str] = ("rotation", "scale", "colour"), seed: int = 0):
        images = np.asarray(images)
        if images.ndim != 3:
            raise ValueError(f"images must be (N, H, W), got shape {images.shape}")
        super().__init__(len(images) if n_sequences is None else n_sequences, seq_len, transforms, seed)
        self.images = images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
        self.labels = np.full(len(images), -1) if labels is None else np.asarray(labels).astype(np.int64)
        self.channels = 3 if "colour" in self.transforms else 1
        steps = 360.0 * np.arange(seq_len) / seq_len
        self.value_sets = {"rotation": steps, "scale": np.linspace(*MNIST_SCALES, seq_len), "colour": steps}
        self.identity = {"rotation": 0.0, "scale": 1.0, "colour": 0.0}

    @classmethod
    def from_catalog(cls, name: str = "mnist_test", start: int = 0, stop: int | None = None,
                     **kwargs) -> TransformedMNIST:
        """Build from images ``start:stop`` of a catalog entry of the MNIST reader (needs ``AVERSE_DATA``).

        ``kwargs`` go to the constructor.

        Raises
        ------
        averse.errors.DataNotFoundError
            When the data root is not set or the files are missing.
        """
        import averse

        dataset = averse.open_dataset(name).isel(sample=slice(start, stop))
        labels = dataset["label"].values if "label" in dataset else None
        return cls(dataset["image"].values, labels, **kwargs)

    def render(self, rng, index, transform, start):
        image = self.images[index % len(self.images)]
        height, width = image.shape
        centre = ((width - 1) / 2.0, (height - 1) / 2.0)
        values = self.frame_values(rng, transform, start)
        frames = np.empty((self.seq_len, self.channels, height, width), np.float32)
        for step in range(self.seq_len):
            matrix = cv2.getRotationMatrix2D(centre, float(values["rotation"][step]), float(values["scale"][step]))
            warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
            if self.channels == 3:
                frames[step] = hue_colour(values["colour"][step])[:, None, None] * warped
            else:
                frames[step, 0] = warped
        return np.clip(frames, 0.0, 1.0), self.labels[index % len(self.images)]


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u**2 + (v / 0.5) ** 2 <= 1.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, y = 1.15 * u, 1.15 * v + 0.12  # the curve spans y in [-1, 1.24]: centre and fit it
    return (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0


_SHAPES = {"square": _square, "ellipse": _ellipse, "heart": _heart}


class SpriteSequences(CyclicSequences):
    """Procedural dSprites-like sequences: one white shape on black, cyclically transformed.

    Parameters
    ----------
    n_sequences : int
        Number of items.
    seq_len : int
        Frames per sequence and period of the transformations.
    image_size : int
        Side of the square frames.
    shapes : sequence of str
        Among ``"square"``, ``"ellipse"``, ``"heart"`` (the label is the index here).
    transforms : sequence of str
        Among ``"translate_x"``, ``"translate_y"`` (``T`` positions across the
        frame, restarting at the first), ``"rotation"`` (``360°/T`` per step) and
        ``"scale"`` (``T`` sizes from 0.5 to 1, restarting).
    seed : int
        Seed of the per-item generators.
    supersample : int
        Sub-pixels per pixel side used for anti-aliasing.
    """

    known_transforms = ("translate_x", "translate_y", "rotation", "scale")

    def __init__(self, n_sequences: int = 1000, seq_len: int = 18, image_size: int = 32,
                 shapes: Sequence[str] = ("square", "ellipse", "heart"),
                 transforms: Sequence[str] = ("translate_x", "translate_y", "rotation", "scale"),
                 seed: int = 0, supersample: int = 3):
        super().__init__(n_sequences, seq_len, transforms, seed)
        unknown = sorted(set(shapes) - set(_SHAPES))
        if unknown or not shapes:
            raise ValueError(f"shapes must be a non-empty subset of {tuple(_SHAPES)}; got {list(shapes)}")
        self.shapes = tuple(shapes)
        self.image_size = int(image_size)
        self.channels = 1
        self.supersample = int(supersample)
        self.radius = 0.2 * image_size  # shape radius at scale 1, in pixels
        positions = np.linspace(self.radius, image_size - self.radius, seq_len)
        self.value_sets = {"translate_x": positions, "translate_y": positions,
                           "rotation": 2.0 * np.pi * np.arange(seq_len) / seq_len,
                           "scale": np.linspace(0.5, 1.0, seq_len)}
        self.identity = {"translate_x": image_size / 2.0, "translate_y": image_size / 2.0,
                         "rotation": 0.0, "scale": 1.0}
        offsets = (np.arange(image_size * self.supersample) + 0.5) / self.supersample
        self._grid_y, self._grid_x = np.meshgrid(offsets, offsets, indexing="ij")

    def draw(self, shape: str, x: float, y: float, angle: float, scale: float) -> np.ndarray:
        """Anti-aliased ``(H, W)`` image of ``shape`` centred at pixel position ``(x, y)``.

        ``angle`` is counter-clockwise in radians (y axis pointing up on screen).
        """
        dx = (self._grid_x - x) / (self.radius * scale)
        dy = (y - self._grid_y) / (self.radius * scale)
        cos, sin = np.cos(angle), np.sin(angle)
        inside = _SHAPES[shape](cos * dx + sin * dy, -sin * dx + cos * dy).astype(np.float32)
        n, s = self.image_size, self.supersample
        return inside.reshape(n, s, n, s).mean(axis=(1, 3))

    def render(self, rng, index, transform, start):
        label = int(rng.integers(len(self.shapes)))
        values = self.frame_values(rng, transform, start)
        frames = np.stack([
            self.draw(self.shapes[label], values["translate_x"][step], values["translate_y"][step],
                      values["rotation"][step], values["scale"][step])
            for step in range(self.seq_len)
        ])
        return frames[:, None], label
