"""Tests of the cyclic transformed-MNIST and dSprites-like sequence datasets."""

import numpy as np
import pytest

from averse.data.sequences import SpriteSequences, TransformedMNIST, hue_colour
from averse.errors import DataNotFoundError


@pytest.fixture
def digits():
    """Two 28×28 asymmetric 'digits' (an L and a bar), uint8 like MNIST."""
    images = np.zeros((2, 28, 28), np.uint8)
    images[0, 6:22, 9:12] = 255
    images[0, 19:22, 9:20] = 255
    images[1, 8:20, 13:16] = 200
    return images


def test_item_layout_and_info(digits):
    data = TransformedMNIST(digits, labels=[3, 5], seq_len=8, seed=1)
    frames, info = data[1]
    assert frames.shape == (8, 3, 28, 28) and str(frames.dtype) == "torch.float32"
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    assert set(info) == {"transform", "start", "label"} and info["label"] == 5
    assert 0 <= info["start"] < 8 and data.transforms[info["transform"]] in ("rotation", "scale", "colour")
    assert TransformedMNIST(digits, transforms=("rotation",), seq_len=8)[0][0].shape == (8, 1, 28, 28)
    with pytest.raises(IndexError):
        data[2]
    with pytest.raises(ValueError, match="subset"):
        TransformedMNIST(digits, transforms=("shear",))


def test_items_are_deterministic(digits):
    first = TransformedMNIST(digits, seq_len=6, seed=4)[0][0]
    again = TransformedMNIST(digits, seq_len=6, seed=4)[0][0]
    other = TransformedMNIST(digits, seq_len=6, seed=5, n_sequences=20)
    assert np.array_equal(first, again)
    assert any(not np.array_equal(first, other[2 * i][0]) for i in range(10))


def test_rotation_has_the_stated_period(digits):
    # only rotation: two items of the same image differ only by their phase
    data = TransformedMNIST(digits, n_sequences=40, seq_len=8, transforms=("rotation",), seed=0)
    items = [data[i] for i in range(0, 40, 2)]
    (frames_a, info_a), (frames_b, info_b) = next(
        (a, b) for a in items for b in items if a[1]["start"] != b[1]["start"])
    shift = info_b["start"] - info_a["start"]
    np.testing.assert_allclose(frames_b.numpy(), np.roll(frames_a.numpy(), -shift, axis=0), atol=1e-6)
    # 8 steps of 45°: two steps turn the digit by a quarter turn (counter-clockwise as displayed)
    np.testing.assert_allclose(frames_a[2, 0], np.rot90(frames_a[0, 0]), atol=1e-4)
    assert np.array_equal(data.frame_values(np.random.default_rng(0), "rotation", 5)["rotation"],
                          45.0 * ((5 + np.arange(8)) % 8))


def test_scale_sequence_grows_then_wraps(digits):
    data = TransformedMNIST(digits, n_sequences=1, seq_len=6, transforms=("scale",), seed=2)
    frames, info = data[0]
    scales = np.linspace(0.60, 1.26, 6)[(info["start"] + np.arange(6)) % 6]
    mass = frames.numpy().sum(axis=(1, 2, 3)) / (digits[0] / 255.0).sum()
    np.testing.assert_allclose(mass, scales**2, rtol=0.15)         # bilinear blur of 3-pixel strokes
    assert np.argmin(mass) == (-info["start"]) % 6           # the smallest digit is at phase 0


def test_colour_turns_the_hue(digits):
    data = TransformedMNIST(digits, n_sequences=1, seq_len=6, transforms=("colour",), seed=3)
    frames, info = data[0]
    grey = digits[0] / 255.0
    for step in range(6):
        hue = 60.0 * ((info["start"] + step) % 6)
        np.testing.assert_allclose(frames[step], hue_colour(hue)[:, None, None] * grey, atol=1e-6)


def test_hue_colour_primaries():
    np.testing.assert_allclose(hue_colour(0), [1, 0, 0])
    np.testing.assert_allclose(hue_colour(60), [1, 1, 0])
    np.testing.assert_allclose(hue_colour(120), [0, 1, 0])
    np.testing.assert_allclose(hue_colour(240), [0, 0, 1])
    np.testing.assert_allclose(hue_colour(360), [1, 0, 0])


def test_from_catalog_reads_real_mnist(shared_data, monkeypatch):
    monkeypatch.setenv("AVERSE_DATA", str(shared_data))
    if not (shared_data / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST test images are not in AVERSE_DATA")
    data = TransformedMNIST.from_catalog(start=0, stop=5, seq_len=18)
    assert data.images.shape == (5, 28, 28) and data.images.max() == pytest.approx(1.0)
    assert list(data.labels) == [7, 2, 1, 0, 4]                 # the first five MNIST test labels
    assert data[0][0].shape == (18, 3, 28, 28)


def test_from_catalog_without_data_root_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("AVERSE_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="AVERSE_DATA"):
        TransformedMNIST.from_catalog()


def centroid(frame):
    frame = np.asarray(frame)
    ys, xs = np.indices(frame.shape)
    return (xs * frame).sum() / frame.sum(), (ys * frame).sum() / frame.sum()


@pytest.mark.parametrize("axis", ["translate_x", "translate_y"])
def test_sprite_translation_moves_the_centre_one_position_per_step(axis):
    data = SpriteSequences(n_sequences=1, seq_len=9, image_size=32, shapes=("ellipse",), transforms=(axis,))
    frames, info = data[0]
    positions = np.linspace(6.4, 25.6, 9)[(info["start"] + np.arange(9)) % 9]
    centres = np.array([centroid(frame[0]) for frame in frames])
    moving, fixed = (0, 1) if axis == "translate_x" else (1, 0)
    np.testing.assert_allclose(centres[:, moving] + 0.5, positions, atol=0.05)
    np.testing.assert_allclose(centres[:, fixed] + 0.5, 16.0, atol=0.05)


def test_sprite_rotation_turns_the_ellipse_axis():
    data = SpriteSequences(n_sequences=1, seq_len=8, image_size=32, shapes=("ellipse",), transforms=("rotation",))
    frames, info = data[0]
    for step, frame in enumerate(frames):
        image = frame[0].numpy()
        ys, xs = np.indices(image.shape)
        cx, cy = centroid(image)
        dx, dy = xs - cx, cy - ys                               # y up
        cov = [[(image * dx * dx).sum(), (image * dx * dy).sum()], [(image * dx * dy).sum(), (image * dy * dy).sum()]]
        values, vectors = np.linalg.eigh(cov)
        axis = np.arctan2(vectors[1, 1], vectors[0, 1]) % np.pi
        expected = (2 * np.pi * ((info["start"] + step) % 8) / 8) % np.pi
        assert min(abs(axis - expected), np.pi - abs(axis - expected)) < 0.05


def test_sprite_scale_changes_the_area():
    data = SpriteSequences(n_sequences=1, seq_len=6, image_size=32, shapes=("ellipse",), transforms=("scale",))
    frames, info = data[0]
    scales = np.linspace(0.5, 1.0, 6)[(info["start"] + np.arange(6)) % 6]
    area = frames.numpy().sum(axis=(1, 2, 3))
    np.testing.assert_allclose(area, np.pi * (6.4 * scales) * (3.2 * scales), rtol=0.03)   # semi-axes r, r/2


def test_sprite_labels_name_the_shape_and_items_repeat():
    data = SpriteSequences(n_sequences=30, seq_len=4, image_size=16, seed=9)
    labels = {data[i][1]["label"] for i in range(30)}
    assert labels == {0, 1, 2}
    assert np.array_equal(data[7][0], SpriteSequences(30, 4, 16, seed=9)[7][0])
    with pytest.raises(ValueError, match="shapes"):
        SpriteSequences(shapes=("star",))
