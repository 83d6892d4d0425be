"""The ablation batch: runs of a notebook per configuration and seed, collected and compared."""

import nbformat
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse.nowcast import ablation, scoring
from averse.nowcast.experiment import STATISTICS_FILE

# A stand-in for notebook 10 (numpy and xarray only, so its kernel starts fast): per-case
# statistics in the layout of averse.nowcast.scoring.case_statistics, more hits with `dem`.
FAKE_RUN = '''
import numpy as np, pandas as pd, xarray as xr
from pathlib import Path
rng = np.random.default_rng(seed)
shape = (10, 2, 3)
hits = rng.integers(40, 60, size=shape) + (30 if dem else 0)
counts = {"hits": hits, "misses": 100 - hits, "false_alarms": rng.integers(10, 30, size=shape),
          "correct_negatives": np.full(shape, 500)}
dims = ("case", "lead_time", "threshold")
stats = xr.Dataset({name: (dims, value) for name, value in counts.items()},
                   coords={"case": pd.date_range("2021-06-01", periods=10 + case_offset, freq="1h")[case_offset:],
                           "lead_time": pd.to_timedelta([5, 10], "min"), "threshold": [0.1, 1.0, 5.0]})
stats["abs_error"] = (("case", "lead_time"), rng.uniform(50, 60, size=shape[:2]) - (20 if dem else 0))
stats["valid"] = (("case", "lead_time"), np.full(shape[:2], 144))
Path(out_dir).mkdir(parents=True, exist_ok=True)
stats.to_netcdf(Path(out_dir) / "case_statistics.nc")
'''


@pytest.fixture(scope="module")
def fake_notebook(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Fake run\n\nWrites statistics."),
                nbformat.v4.new_code_cell("seed = 0\ndem = False\ncase_offset = 0\nout_dir = 'x'",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(FAKE_RUN)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path_factory.mktemp("nb") / "10_fake.ipynb"
    nbformat.write(nb, path)
    return path


def test_papermill_batch_runs_once_and_collects(fake_notebook, tmp_path):
    configurations = {"radar": {}, "dem": {"dem": True, "case_offset": 2}}
    # The radar-only run "finished" earlier: the batch reuses it and executes only the other.
    earlier = ablation.run_batch(fake_notebook, tmp_path, {}, {"radar": {}}, seeds=[3], runner="in_process")
    assert "unexpected keyword" in earlier[0].error  # the fake is not notebook 10: in process it fails
    exec(FAKE_RUN, {"seed": 3, "dem": False, "case_offset": 0, "out_dir": str(tmp_path / "radar-seed3" / "10_fake")})
    runs = ablation.run_batch(fake_notebook, tmp_path, {}, configurations, seeds=[3], runner="papermill")
    assert [r.ok for r in runs] == [True, True], [r.error for r in runs]
    assert runs[0].seconds == 0.0 and runs[1].seconds > 0.0
    assert runs[1].folder == tmp_path / "dem-seed3" / "10_fake"
    collected = ablation.collect(runs)
    assert dict(collected.sizes) == {"configuration": 2, "seed": 1, "case": 8, "lead_time": 2, "threshold": 3}
    assert collected.attrs["dropped_cases"] == 4  # 00:00, 01:00 (radar only), 10:00, 11:00 (dem only)
    table = ablation.ablation_table(collected, n_boot=200, min_cases=5)
    assert table.loc[("dem", "CSI >1 mm/h"), "verdict"] == "helps"


def test_failed_runs_are_kept_with_their_error(fake_notebook, tmp_path):
    runs = ablation.run_batch(fake_notebook, tmp_path, {}, {"radar": {}}, runner="in_process")
    assert not runs[0].ok and runs[0].error
    with pytest.raises(ValueError, match="no run"):
        ablation.collect(runs)
    with pytest.raises(ValueError, match="runner"):
        ablation.run_batch(fake_notebook, tmp_path, {}, {"radar": {}}, runner="slurm")


def _stats(noise: float, seed: int, n_cases: int = 30) -> xr.Dataset:
    """Per-case statistics of a forecast with multiplicative noise on hourly cases from 2021-06-01 00:00."""
    rng = np.random.default_rng(seed)
    observed = rng.gamma(0.6, 2.0, size=(n_cases, 2, 10, 10))
    forecast = observed * rng.lognormal(0.0, noise, size=observed.shape)
    coords = {"case": pd.date_range("2021-06-01", periods=n_cases, freq="1h"),
              "lead_time": pd.to_timedelta([5, 10], "min")}
    as_da = lambda v: xr.DataArray(v, dims=("case", "lead_time", "y", "x"), coords=coords)  # noqa: E731
    return scoring.case_statistics(as_da(forecast), as_da(observed))


def test_table_verdicts_read_the_interval():
    collected = xr.concat([_stats(0.5, 0), _stats(0.1, 0), _stats(1.5, 0), _stats(0.5, 1)],
                          dim=pd.Index(["radar", "better", "worse", "same"], name="configuration"))
    table = ablation.ablation_table(collected, n_boot=300)
    assert table.loc[("better", "CSI >1 mm/h"), "verdict"] == "helps"
    assert table.loc[("better", "MAE mm/h"), "verdict"] == "helps"
    assert table.loc[("worse", "MAE mm/h"), "verdict"] == "hurts"
    assert table.loc[("worse", "CSI >1 mm/h"), "verdict"] == "hurts"
    assert (table["low"] <= table["difference"]).all() and (table["difference"] <= table["high"]).all()
    few = ablation.ablation_table(collected.isel(case=slice(0, 4)), n_boot=50)
    assert set(few["verdict"]) <= {"too few cases", "undefined"}
    with pytest.raises(ValueError, match="reference"):
        ablation.ablation_table(collected, reference="nothing")


def test_configurations_are_notebook_parameters():
    assert ablation.CONFIGURATIONS["radar"] == {}
    assert set(ablation.CONFIGURATIONS["all"]) == {"dem", "ir_channels", "stats"}
    assert STATISTICS_FILE == "case_statistics.nc"
