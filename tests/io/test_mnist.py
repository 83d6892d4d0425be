"""MNIST IDX reader: raw and gzip files, labels, and what a broken file raises."""

from __future__ import annotations

import gzip

import dask.array as da
import numpy as np
import pytest
from _writers_misc import truncate, write_idx

import averse
from averse.errors import DataFormatError
from averse.io import mnist


def _images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype="u1")


@pytest.mark.parametrize("compress", [False, True])
def test_images_and_labels(tmp_path, compress):
    images, labels = _images(), np.array([3, 1, 4, 1, 5], dtype="u1")
    suffix = ".gz" if compress else ""
    image_path = write_idx(tmp_path / f"images-idx3-ubyte{suffix}", images, compress)
    label_path = write_idx(tmp_path / f"labels-idx1-ubyte{suffix}", labels, compress)
    ds = mnist.open(image_path, labels=label_path)
    assert isinstance(ds.image.data, da.Array) and ds.image.dims == ("sample", "y", "x")
    assert ds.image.dtype == np.uint8
    np.testing.assert_array_equal(ds.image.values, images)
    np.testing.assert_array_equal(ds.label.values, labels)
    assert mnist.sniff(image_path) and mnist.sniff(label_path)


def test_files_concatenate_and_label_files_open_alone(tmp_path):
    first = write_idx(tmp_path / "a-idx3-ubyte", _images(2, 1))
    second = write_idx(tmp_path / "b-idx3-ubyte", _images(3, 2))
    labels = [write_idx(tmp_path / "a-idx1-ubyte", np.zeros(2, "u1")), write_idx(tmp_path / "b-idx1-ubyte", np.ones(3, "u1"))]
    ds = mnist.open([first, second], labels=labels)
    np.testing.assert_array_equal(ds.image.values, np.concatenate([_images(2, 1), _images(3, 2)]))
    np.testing.assert_array_equal(ds.label.values, [0, 0, 1, 1, 1])
    assert list(mnist.open(labels[1]).label.values) == [1, 1, 1]


def test_other_idx_types_are_decoded_big_endian(tmp_path):
    values = np.arange(-6, 6, dtype=">i4").reshape(3, 2, 2) * 1000
    ds = mnist.open(write_idx(tmp_path / "x-idx3", values))
    np.testing.assert_array_equal(ds.image.values, values)
    assert ds.image.dtype == np.dtype("int32")


def test_wrong_magic_is_refused(tmp_path):
    path = write_idx(tmp_path / "bad-idx3-ubyte", _images(), magic=0x12345678)
    with pytest.raises(DataFormatError, match="magic") as info:
        mnist.open(path)
    assert str(path) in str(info.value)
    assert not mnist.sniff(path)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_files_are_refused(tmp_path, compress):
    path = truncate(write_idx(tmp_path / "t-idx3-ubyte", _images(50), compress), 0.8)
    with pytest.raises(DataFormatError, match="truncated|corrupt"):
        mnist.open(path).image.values


def test_label_count_must_match(tmp_path):
    images = write_idx(tmp_path / "i-idx3-ubyte", _images(5))
    labels = write_idx(tmp_path / "l-idx1-ubyte", np.zeros(4, "u1"))
    with pytest.raises(DataFormatError, match="4 labels for 5 images"):
        mnist.open(images, labels=labels)


@pytest.mark.shared
def test_real_mnist_test_set_equals_a_direct_read(shared_data):
    ds = averse.open_dataset("mnist_test")
    raw_images = gzip.decompress((shared_data / "mnist/t10k-images-idx3-ubyte.gz").read_bytes())
    raw_labels = gzip.decompress((shared_data / "mnist/t10k-labels-idx1-ubyte.gz").read_bytes())
    images = np.frombuffer(raw_images, "u1", offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(raw_labels, "u1", offset=8)
    assert ds.image.shape == images.shape and ds.label.shape == labels.shape
    np.testing.assert_array_equal(ds.image.values, images)
    assert list(np.bincount(ds.label.values, minlength=10)) == list(np.bincount(labels, minlength=10))
    train = averse.open_dataset(shared_data / "mnist/train-labels-idx1-ubyte.gz")
    assert train.label.shape == (len(gzip.decompress((shared_data / "mnist/train-labels-idx1-ubyte.gz").read_bytes())) - 8,)
