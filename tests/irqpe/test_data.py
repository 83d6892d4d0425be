"""The IR retrieval data: stacks, targets, splits without leakage, crops, the registered data module."""

import numpy as np
import pandas as pd
import pytest
import torch

from averse.data import TimeBlockSplit
from averse.irqpe import IRRetrievalDataModule, build_cases, stack_indices
from averse.irqpe.data import IR_LOC, IR_SCALE
from averse.train import available_data_modules, get_data_module

from _irqpe_toys import START, image_value, make_tree

SPLIT = {"block": "1h", "gap": "15min", "seed": 3}


def _steps(times) -> np.ndarray:
    return ((pd.DatetimeIndex(times) - START) / pd.Timedelta("5min")).to_numpy()


def test_stack_indices_oldest_first_and_never_bridge_gaps():
    times = pd.date_range("2021-06-01T00:15", periods=6, freq="15min").delete(3)  # 01:00 missing
    index = stack_indices(times, 3, "15min")
    assert index.tolist() == [[-1, -1, 0], [-1, 0, 1], [0, 1, 2], [2, -1, 3], [-1, 3, 4]]


def test_cases_hold_the_right_images_and_the_conservative_15_min_mean(toy_tree):
    cases = build_cases(toy_tree, channels=("wv_062", "ir_108"), n_times=3, split=SPLIT)
    assert cases.ir.shape[1:] == (2, 4, 5) and cases.target.shape[1:] == (4, 5)
    stacks = cases.ir[cases.stacks]  # (case, time, channel, y, x), scaled
    kelvin = stacks * IR_SCALE + IR_LOC
    case_steps = _steps(cases.times)
    for lag in range(3):  # oldest first: t - 30 min, t - 15 min, t
        expected = image_value(case_steps - 3 * (2 - lag), 2)
        np.testing.assert_allclose(kelvin[:, lag, 0, 0, 0], expected, atol=1e-4)
    np.testing.assert_allclose(kelvin[:, -1, 1, 0, 0], image_value(case_steps, 0), atol=1e-4)

    frame_times = pd.DatetimeIndex(toy_tree["radar"]["time"].values)
    frames = toy_tree["radar"]["precip"].values
    for k, when in enumerate(cases.times):
        end = frame_times.get_loc(when)
        mean = frames[end - 2:end + 1].mean(axis=0)  # the three 5-min frames ending at t
        blocks = mean.reshape(4, 3, 5, 3)
        np.testing.assert_allclose(cases.target[k, 1:, 1:], blocks.mean(axis=(1, 3))[1:, 1:], rtol=1e-5)
        # column 0 covers one NaN radar column out of three: the mean of the two valid ones
        np.testing.assert_allclose(cases.target[k, :, 0], np.nanmean(blocks[:, :, 0, :], axis=(1, 2)), rtol=1e-5)


def test_no_case_shares_an_image_with_another_split(toy_tree):
    split = {"block": "90min", "gap": "15min", "seed": 1}
    cases = build_cases(toy_tree, channels=("ir_108",), n_times=3, split=split)
    all_times = pd.DatetimeIndex(toy_tree["seviri"]["time"].values)
    labels = dict(zip(all_times, TimeBlockSplit.from_value(split).labels(all_times)))
    assert set(np.unique(cases.labels)) == {0, 1, 2}
    for case, stack in enumerate(cases.stacks):
        assert {labels[t] for t in cases.image_times[stack]} == {cases.labels[case]}
        assert cases.image_times[stack[-1]] == cases.times[case]
    excluded = [t for t, label in labels.items() if label < 0]
    assert excluded and not set(excluded) & set(cases.image_times)


def test_required_times_scores_every_configuration_on_the_same_cases(toy_tree):
    one = build_cases(toy_tree, channels=("ir_108",), n_times=1, required_times=3, split=SPLIT)
    three = build_cases(toy_tree, channels=("ir_108",), n_times=3, split=SPLIT)
    alone = build_cases(toy_tree, channels=("ir_108",), n_times=1, split=SPLIT)
    assert one.times.equals(three.times)
    assert len(alone.times) > len(one.times)
    np.testing.assert_array_equal(one.ir[one.stacks[:, 0]], three.ir[three.stacks[:, -1]])


def test_a_missing_image_removes_the_cases_that_need_it():
    tree = make_tree(drop_images=[5])
    gap = pd.Timestamp(tree["seviri"]["time"].values[4]) + pd.Timedelta("15min")
    cases = build_cases(tree, channels=("ir_108",), n_times=2, split={"fractions": [1, 0, 0], "gap": "0min"})
    assert gap not in cases.times and gap + pd.Timedelta("15min") not in cases.times
    assert gap + pd.Timedelta("30min") in cases.times


def test_truth_reference_and_radar_grid(toy_tree):
    truth = build_cases(toy_tree, channels=("ir_108",), reference="truth", target_interval=None, grid="radar",
                        split=SPLIT)
    step = int(_steps(truth.times[:1])[0])
    np.testing.assert_allclose(truth.target[0], toy_tree["truth"]["precip"].values[step], rtol=1e-6)
    upsampled = truth.ir[truth.stacks[0, 0], 0] * IR_SCALE + IR_LOC  # each 3-km cell copied on its 3 x 3 fine cells
    coarse = toy_tree["seviri"]["ir_108"].sel(time=truth.times[0]).values
    np.testing.assert_allclose(upsampled, np.repeat(np.repeat(coarse, 3, 0), 3, 1), atol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"grid": "swath"}, "grid must be"),
    ({"reference": "gauges"}, "reference must be"),
    ({"n_times": 3, "required_times": 2}, "n_times <= required_times"),
])
def test_bad_options_are_refused(toy_tree, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_cases(toy_tree, channels=("ir_108",), split=SPLIT, **kwargs)


def test_a_tree_without_imager_is_refused(toy_tree):
    tree = toy_tree.copy()
    del tree["seviri"]
    with pytest.raises(ValueError, match="/seviri"):
        build_cases(tree)


def test_data_module_batches_crops_and_registration(toy_tree):
    assert "irqpe" in available_data_modules()
    datamodule = get_data_module("irqpe")(source=toy_tree, channels=["ir_108", "wv_062"], n_times=2, crop=3,
                                          split=SPLIT, batch_size=4, seed=1, min_rain_fraction=0.3, crop_attempts=8)
    datamodule.setup()
    assert (datamodule.n_times, datamodule.n_channels) == (2, 2)
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["ir"].shape == (4, 2, 2, 3, 3) and batch["target"].shape == (4, 1, 3, 3)
    assert batch["ir"].dtype == torch.float32
    train = datamodule.datasets["train"]
    draws = {tuple(train[0]["target"].flatten().tolist()) for _ in range(10)}
    assert len(draws) > 1, "training crops are drawn afresh"
    rainy = np.mean([np.nanmean(train[i]["target"].numpy() >= 0.1) for i in range(len(train))])
    assert rainy >= 0.3
    val = datamodule.datasets["val"]
    torch.testing.assert_close(val[0]["target"], val[0]["target"], equal_nan=True)

    ir, reference = datamodule.full_frames("test")
    assert ir.shape[1:] == (2, 2, 4, 5) and reference.dims == ("case", "y", "x")
    assert reference["case"].dtype.kind == "M" and "spatial_ref" in reference.coords
    assert reference.attrs["units"] == "mm h-1"
    kelvin = datamodule.ir_field("test")
    assert kelvin.dims == ("case", "lag", "channel", "y", "x") and kelvin["lag"].values.tolist() == [-15.0, 0.0]


def test_fit_trains_an_irqpe_model_through_the_registered_module(toy_tree, tmp_path):
    from averse.train import TrainConfig, fit, load_model

    config = TrainConfig(model="irqpe_unet", model_kwargs={"widths": (4, 8)}, data_module="irqpe",
                         data={"source": toy_tree, "channels": ["ir_108"], "n_times": 2, "crop": 4, "split": SPLIT},
                         epochs=1, batch_size=4, limit_train_batches=2, limit_val_batches=1, device="cpu",
                         progress_bar=False, out_dir=str(tmp_path / "run"))
    result = fit(config)
    assert result.task.model.n_times == 2 and result.task.model.n_channels == 1
    assert np.isfinite(result.metrics["val/loss"].iloc[-1])
    reloaded = load_model(result.last_checkpoint)
    assert type(reloaded.model).__name__ == "IRQPEUNet"
