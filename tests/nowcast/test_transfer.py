"""Out-of-distribution helpers: the target split, and fine-tuning that starts from the source weights."""

import pandas as pd
import pytest
import torch

from averse.nowcast import experiment, transfer
from _nowcast_toys import SPLIT


def test_split_target_leaves_a_gap(moving_world):
    little, rest = transfer.split_target(moving_world, hours=6, gap="1h")
    little_times = pd.DatetimeIndex(little["radar"]["time"].values)
    rest_times = pd.DatetimeIndex(rest["radar"]["time"].values)
    assert len(little_times) == 72 and little_times[0] == pd.Timestamp("2021-06-01T00:05")
    assert rest_times[0] - little_times[-1] == pd.Timedelta("65min")  # 1 h left out between them
    assert little["static"].sizes == moving_world["static"].sizes
    with pytest.raises(ValueError, match="more days"):
        transfer.split_target(moving_world, hours=40)


@pytest.fixture(scope="module")
def source_run(moving_world, tmp_path_factory):
    from averse.train import fit

    config = experiment.train_config(dataset=moving_world, model="unet_multilead", model_kwargs={"widths": [4, 8]},
                                     n_in=3, n_out=2, crop=16, split=SPLIT, epochs=1, limit_train_batches=2,
                                     limit_val_batches=1, batch_size=4, device="cpu", min_rain_fraction=0.0,
                                     out_dir=str(tmp_path_factory.mktemp("source")))
    return config, fit(config)


def _weights(task):
    """Trainable weights (batch-norm running statistics change in training even at lr 0)."""
    return {k: v.detach().clone() for k, v in task.model.named_parameters()}


def test_finetuning_starts_from_the_source_weights(source_run, moving_world, tmp_path):
    config, result = source_run
    little, _ = transfer.split_target(moving_world, hours=8)
    frozen = transfer.finetune_config(config, little, tmp_path / "ft", epochs=1, lr=0.0, limit_train_batches=1)
    assert frozen.data["split"] == transfer.FINETUNE_SPLIT and frozen.model_kwargs == config.model_kwargs
    tuned = transfer.finetune(frozen, result.best_checkpoint)
    source = _weights(experiment.trained_task(result))
    assert all(torch.equal(source[k], v) for k, v in _weights(tuned.task).items())  # lr 0: unchanged
    scratch = transfer.finetune(transfer.finetune_config(config, little, tmp_path / "scratch", epochs=1, lr=0.0,
                                                         limit_train_batches=1), None)
    assert not all(torch.equal(source[k], v) for k, v in _weights(scratch.task).items())


def test_finetuning_without_windows_is_a_clear_error(source_run, moving_world, tmp_path):
    config, result = source_run
    little, _ = transfer.split_target(moving_world, hours=0.5)  # one block: no validation window
    with pytest.raises(ValueError, match="validation"):
        transfer.finetune(transfer.finetune_config(config, little, tmp_path, epochs=1), result.best_checkpoint)
