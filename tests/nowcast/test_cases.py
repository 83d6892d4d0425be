"""Evaluation domain and issue times: spreading, gaps, crops, orientation, splits chosen by the radar."""

import numpy as np
import pandas as pd
import pytest

from averse.data import NowcastDataModule
from averse.nowcast.cases import (
    centre_crop,
    radar_sequence,
    rows_northward,
    sequence_issue_times,
    split_issue_times,
    spread,
    time_slice,
)
from _nowcast_toys import SPLIT, rain_sequence


def test_spread_keeps_first_and_last_and_is_even():
    times = pd.date_range("2021-06-01", periods=101, freq="5min")
    picked = spread(times, 5)
    assert list(picked) == list(times[[0, 25, 50, 75, 100]])
    assert list(spread(times[:3], 5)) == list(times[:3])


def test_spread_keeps_cases_apart():
    times = pd.date_range("2021-06-01", periods=13, freq="5min").append(pd.DatetimeIndex(["2021-06-01T03:00"]))
    apart = spread(times, 10, min_separation="30min")
    assert [f"{t:%H:%M}" for t in apart] == ["00:00", "00:30", "01:00", "03:00"]
    assert len(spread(times, 2, min_separation="30min")) == 2


def test_sequence_issue_times_need_a_gap_free_history_and_a_lead():
    values = np.zeros((15, 4, 4))
    sequence = rain_sequence(values).drop_isel(time=[6])  # a missing frame at 12:30
    issue = sequence_issue_times(sequence, n_in=3, min_leads=1)
    stamps = {f"{t:%H:%M}" for t in issue}
    # 12:10 is the first with 3 frames; 12:25 lacks its lead (12:30 missing); 12:35, 12:40 lack history.
    assert "12:10" in stamps and "12:05" not in stamps
    assert not {"12:25", "12:30", "12:35", "12:40"} & stamps
    assert "12:45" in stamps and "13:10" not in stamps  # the last frame has no lead after it
    assert len(sequence_issue_times(sequence, n_in=3, n_cases=2)) == 2


def test_centre_crop_crops_the_radar_grid_groups_only(moving_world):
    cropped = centre_crop(moving_world, 15)
    assert cropped["radar"].sizes["y"] == cropped["radar"].sizes["x"] == 15
    assert cropped["static"].sizes["x"] == 15
    assert cropped["seviri"].sizes["x"] == moving_world["seviri"].sizes["x"]  # other grid: kept whole
    assert float(cropped["radar"]["x"][0]) == float(moving_world["radar"]["x"][9])
    assert centre_crop(moving_world, None) is moving_world
    with pytest.raises(ValueError, match="larger"):
        centre_crop(moving_world["radar"]["precip"], 40)


def test_rows_northward_flips_only_north_first_grids():
    sequence = rain_sequence(np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2))
    flipped = rows_northward(sequence.isel(y=slice(None, None, -1)))
    assert np.array_equal(flipped["y"].values, sequence["y"].values)
    assert np.array_equal(flipped.values, sequence.values)
    assert rows_northward(sequence) is sequence


def test_time_slice_cuts_only_groups_with_time(moving_world):
    part = time_slice(moving_world, "2021-06-01T01:00", "2021-06-01T02:00")
    assert part["radar"].sizes["time"] == 13
    assert part["static"].sizes["x"] == moving_world["static"].sizes["x"]
    assert pd.Timestamp(part["seviri"]["time"].values[-1]) <= pd.Timestamp("2021-06-01T02:00")


def test_split_issue_times_are_test_windows_chosen_by_the_radar(moving_world):
    plain = NowcastDataModule(moving_world, n_in=3, n_out=4, crop=None, split=SPLIT)
    with_ir = NowcastDataModule(moving_world, n_in=3, n_out=4, crop=None, split=SPLIT, ir_channels=["ir_108"])
    cases = split_issue_times(plain, "test")
    assert len(cases) > 0
    assert list(cases) == list(split_issue_times(with_ir, "test"))
    labels = pd.Series(plain.labels, index=pd.DatetimeIndex(plain.times))
    for issue in cases[:: max(len(cases) // 5, 1)]:
        window = pd.date_range(issue - 2 * pd.Timedelta("5min"), periods=7, freq="5min")
        assert (labels.loc[window] == 2).all()
    assert len(split_issue_times(plain, "test", n_cases=3)) == 3
    share = float(plain.summary.rain_fraction.max())  # the toy rain rolls over the domain: a constant share
    assert list(split_issue_times(plain, "test", min_input_rain=share)) == list(cases)
    assert len(split_issue_times(plain, "test", min_input_rain=share + 0.01)) == 0


def test_radar_sequence_reads_tree_dataset_and_array(moving_world):
    from_tree = radar_sequence(moving_world)
    assert from_tree.dims == ("time", "y", "x") and from_tree.dtype == np.float32
    assert radar_sequence(moving_world["radar"].to_dataset()).shape == from_tree.shape
    with pytest.raises(KeyError, match="groups"):
        radar_sequence(moving_world, group="nothing")
