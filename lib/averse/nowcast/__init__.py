"""The radar-nowcasting experiments: test cases, network forecasts, scores, ablations, transfer.

The library side of notebooks ``10_nowcast_train`` … ``13_nowcast_out_of_distribution``:

- :mod:`~averse.nowcast.cases` — evaluation domain and issue times;
- :mod:`~averse.nowcast.forecast` — trained networks' forecasts laid out like the
  baselines' (``(case, lead_time, y, x)``, mm/h);
- :mod:`~averse.nowcast.experiment` — a run's configuration, trained task and test cases;
- :mod:`~averse.nowcast.scoring` — pooled scores, per-case statistics, paired bootstraps;
- :mod:`~averse.nowcast.real` — the real radar sequences of ``AVERSE_DATA`` (MeteoNet, OPERA);
- :mod:`~averse.nowcast.ablation` — the auxiliary-input grid as a papermill batch;
- :mod:`~averse.nowcast.transfer` — out-of-distribution tests and fine-tuning;
- :mod:`~averse.nowcast.plots` — learning curves, skill curves and case maps.
"""

from averse.nowcast import cases, experiment, forecast, scoring
from averse.nowcast.experiment import CaseSet, evaluation_cases, load_run, score_run, train_config, trained_task
from averse.nowcast.forecast import as_cases, match_distribution, predict_sequence, predict_windows
from averse.nowcast.scoring import bootstrap_difference, case_statistics, compare_methods, score_forecasts, skill_table

__all__ = [
    "cases",
    "experiment",
    "forecast",
    "scoring",
    "CaseSet",
    "evaluation_cases",
    "load_run",
    "score_run",
    "train_config",
    "trained_task",
    "as_cases",
    "match_distribution",
    "predict_sequence",
    "predict_windows",
    "bootstrap_difference",
    "case_statistics",
    "compare_methods",
    "score_forecasts",
    "skill_table",
]
