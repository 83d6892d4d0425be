"""Time-block splits and window selection, on time stamps and summaries alone (no store)."""

import numpy as np
import pandas as pd
import pytest

from averse.data.splits import EXCLUDED, TimeBlockSplit
from averse.data.windows import FrameSummary, WindowSpec, contiguous_starts, crop_corners, valid_starts

TIMES = pd.date_range("2021-06-01T00:05", periods=288 * 12, freq="5min")  # 12 whole days


def _summary(n, valid=None, rain=None):
    return FrameSummary(np.ones(n) if valid is None else valid, np.zeros(n) if rain is None else rain,
                        np.ones((8, 8), bool))


def test_split_is_whole_blocks_and_reproducible():
    split = TimeBlockSplit(block="1D", gap="0min", seed=3)
    labels = split.labels(TIMES)
    # the frame stamped midnight closes the previous day: every day (00:05 .. 24:00] has one label
    per_day = pd.Series(labels, index=TIMES).groupby((TIMES - pd.Timedelta("1ns")).normalize()).nunique()
    assert (per_day == 1).all()
    assert np.array_equal(labels, TimeBlockSplit(block="1D", gap="0min", seed=3).labels(TIMES))
    assert not np.array_equal(labels, TimeBlockSplit(block="1D", gap="0min", seed=4).labels(TIMES))
    counts = np.bincount(labels, minlength=3)
    assert counts.tolist() == [288 * 8, 288 * 2, 288 * 2]  # 12 blocks at 70/15/15, largest remainders


def test_split_gap_separates_frames_of_different_splits():
    gap = pd.Timedelta("2h")
    labels = TimeBlockSplit(block="1D", gap=gap, seed=0).labels(TIMES)
    assert (labels == EXCLUDED).any()
    stamps = TIMES.values
    for a in range(3):
        for b in range(3):
            if a != b and (labels == a).any() and (labels == b).any():
                distance = np.abs(stamps[labels == a][:, None] - stamps[labels == b][None, :]).min()
                assert distance > gap


def test_chronological_split_orders_train_val_test():
    labels = TimeBlockSplit(block="1D", order="chronological").labels(TIMES)
    last = {k: TIMES[labels == k].max() for k in range(3)}
    first = {k: TIMES[labels == k].min() for k in range(3)}
    assert last[0] < first[1] and last[1] < first[2]


def test_split_rejects_bad_parameters():
    with pytest.raises(ValueError, match="fractions"):
        TimeBlockSplit(fractions=(1, 0))
    with pytest.raises(ValueError, match="order"):
        TimeBlockSplit(order="shuffled")


def test_contiguous_starts_never_bridge_a_gap():
    times = TIMES[:100].delete(np.arange(40, 43))  # 15 minutes missing after step 39
    ok = contiguous_starts(times, "5min", 10)
    stamps = times.values
    for start in np.flatnonzero(ok):
        assert (np.diff(stamps[start:start + 10]) == np.timedelta64(5, "m")).all()
    # every start whose window would cross the gap is refused, the others are kept
    assert ok.sum() == (40 - 10 + 1) + (97 - 40 - 10 + 1)


def test_valid_starts_drop_missing_frames_other_splits_and_dry_targets():
    n = 60
    spec = WindowSpec(n_in=3, n_out=2, crop=None)
    labels = np.zeros(n, np.int8)
    labels[50:] = 1
    valid = np.ones(n)
    valid[20] = 0.0  # a NaN-only frame
    starts = valid_starts(TIMES[:n], "5min", spec, _summary(n, valid=valid), labels, split=0)
    for s in starts:
        assert not 16 <= s <= 20  # windows holding frame 20
        assert s + spec.length <= 50  # no frame of the validation split
    rain = np.zeros(n)
    rain[[10, 11]] = 1.0
    rainy = valid_starts(TIMES[:n], "5min", WindowSpec(n_in=3, n_out=2, crop=None, min_rain_fraction=0.5),
                         _summary(n, rain=rain), labels, split=0)
    assert rainy.tolist() == [6, 7, 8]  # targets (s+3, s+4) with a mean rain fraction >= 0.5


def test_crop_corners_follow_coverage():
    coverage = np.zeros((20, 30), bool)
    coverage[5:15, 10:25] = True
    corners = crop_corners(coverage, (8, 8), min_coverage=1.0)
    rows, cols = np.divmod(corners, 30 - 8 + 1)
    assert rows.min() == 5 and rows.max() == 7 and cols.min() == 10 and cols.max() == 17
    assert crop_corners(np.zeros((20, 30), bool), (8, 8), 0.5).size == 1  # never empty
