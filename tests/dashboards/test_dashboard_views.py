"""The dashboards at unit level: built from results or from nothing; parameters drive the Bokeh models."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from bokeh.document import Document

from averse.dashboards import ImergDashboard, IrqpeDashboard, NowcastDashboard, dashboard, open_results

REMOTE_REFERENCE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def _render(view):
    """The Bokeh root of a Panel view in a fresh document (what a browser session gets)."""
    return view.get_root(Document())


def _maps(dash) -> dict:
    """``{title prefix: LiveMap}`` of the maps of the last view built."""
    return {live.figure.title.text: live for _, live in dash._live_maps}


def _pixels(live) -> np.ndarray:
    """The map's pixels in the grid's row order (Bokeh stores them bottom-up)."""
    image = live.source.data["image"][0]
    return image[::-1] if live.grid.north_first else image


@pytest.mark.parametrize("name, notebook", [("nowcast", "11_nowcast_evaluate"), ("irqpe", "22_irqpe_generative"),
                                            ("imerg", "33_imerg_validation")])
def test_without_results_the_page_says_which_notebook_to_run(empty_results, name, notebook):
    view = dashboard(name, empty_results)
    _render(view)
    text = view.objects[1].object
    assert f"notebooks/{notebook}.ipynb" in text and str(empty_results) in text


def test_nowcast_lead_time_redraws_the_maps_with_the_stored_fields(demo_results):
    dash = NowcastDashboard.from_results(demo_results)
    _render(dash.panel())
    results = open_results("nowcast", demo_results)
    observed = next(live for title, live in _maps(dash).items() if title.startswith("observed"))
    forecast = next(live for title, live in _maps(dash).items() if title.startswith("sprog"))
    dash.lead_time = 60
    case, lead = dash.start, dash.leads.index(60)
    np.testing.assert_array_equal(_pixels(observed), results["observed"].isel(case=case, lead_time=lead).values)
    np.testing.assert_array_equal(_pixels(forecast),
                                  results["forecast"].isel(case=case, lead_time=lead).sel({"method": "sprog"}).values)
    valid = pd.Timestamp(results["case"].values[case]) + pd.Timedelta(minutes=60)
    assert f"{valid:%Y-%m-%d %H:%M} UTC (+60 min)" in observed.figure.title.text
    assert all(span.location == 60 for span in dash._markers) and dash._markers


def test_nowcast_event_choice_updates_the_issue_times_and_the_table(demo_results):
    dash = NowcastDashboard.from_results(demo_results)
    _render(dash.panel())
    first_starts = dict(dash.param.start.objects)
    dash.event = dash.param.event.objects[1]
    assert dash.param.start.objects != first_starts and dash.start in dash.param.start.objects.values()
    dash.param.update(thresholds=[5.0], methods=["convlstm", "persistence"], lead_time=15)
    table = dash.table()
    assert list(table.index) == [("convlstm", 5.0), ("persistence", 5.0)]
    results = open_results("nowcast", demo_results)
    expected = results["csi"].sel({"method": "convlstm", "threshold": 5.0}).isel(lead_time=dash.leads.index(15))
    assert table.loc[("convlstm", 5.0), "csi"] == pytest.approx(float(expected), abs=5e-4)


def test_irqpe_member_change_redraws_only_the_member_map(demo_results):
    dash = IrqpeDashboard.from_results(demo_results)
    _render(dash.panel())
    maps = _maps(dash)
    member_map = next(live for title, live in maps.items() if "member" in title)
    mean_map = next(live for title, live in maps.items() if "mean" in title)
    mean_before = _pixels(mean_map).copy()
    dash.member = 3
    members = open_results("irqpe", demo_results)["members"].isel(case=dash.case).sel({"model": dash.ensemble_model})
    np.testing.assert_allclose(_pixels(member_map), members.isel(member=3).values)
    assert np.array_equal(_pixels(mean_map), mean_before)
    np.testing.assert_allclose(mean_before, members.mean("member").values, rtol=1e-5)
    assert "member 3" in member_map.figure.title.text


def test_irqpe_probability_and_scores_follow_the_threshold(demo_results):
    dash = IrqpeDashboard.from_results(demo_results)
    _render(dash.panel())
    probability = next(live for title, live in _maps(dash).items() if title.startswith("P(rain"))
    dash.threshold = 5.0
    members = open_results("irqpe", demo_results)["members"].isel(case=dash.case).sel({"model": dash.ensemble_model})
    np.testing.assert_allclose(_pixels(probability), (members > 5.0).mean("member").values)
    table = dash.table()
    assert "csi (> 5 mm/h)" in table.index and list(table.columns)[0] == "unet (deterministic)"


def test_imerg_filters_change_the_difference_map_and_the_scores(demo_results):
    dash = ImergDashboard.from_results(demo_results)
    _render(dash.panel())
    difference = next(live for title, live in _maps(dash).items() if title.startswith("IMERG −"))
    all_pixels = np.isfinite(_pixels(difference)).sum()
    table_all = dash.table()
    gmi = dash.param.sources.objects["GMI"]
    dash.sources = [gmi]
    table_gmi = dash.table()
    assert table_gmi.loc["all selected", "pixels"] == table_all.loc["GMI", "pixels"]
    assert list(table_gmi.index) == ["all selected", "GMI"]
    assert np.isfinite(_pixels(difference)).sum() < all_pixels
    dash.param.update(sources=list(dash.param.sources.objects.values()), quality=(0.6, 1.0),
                      stratify_by="quality index")
    table = dash.table()
    assert table.loc["[0, 0.2)", "pixels"] == 0 and table.loc["all selected", "pixels"] < table_all.loc["all selected", "pixels"]


def test_imerg_age_filter_keeps_unknown_ages_only_at_the_top(demo_results):
    dash = ImergDashboard.from_results(demo_results)
    age = dash.fields["minutes_since_overpass"]
    assert np.isnan(age).any()
    assert dash.selected()[np.isnan(age)].all()
    dash.age = (0, 120)
    assert not dash.selected()[np.isnan(age)].any()
    assert (age[dash.selected()] <= 120).all()


@pytest.mark.parametrize("name", ["nowcast", "irqpe", "imerg"])
def test_static_snapshot_is_self_contained(demo_results, tmp_path, name):
    from averse.dashboards import export_html

    page = export_html(name, tmp_path / f"{name}.html", demo_results)
    html = page.read_text(encoding="utf-8")
    assert REMOTE_REFERENCE.search(html) is None and "cdn.holoviz.org" not in html
    assert "source.data = {image: [frames.data.image[i]]}" in html  # the slider swaps frames in the page
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.html"]


def test_static_snapshot_without_results_says_which_notebook(empty_results, tmp_path):
    from averse.dashboards import export_html

    html = export_html("imerg", tmp_path / "imerg.html", empty_results).read_text(encoding="utf-8")
    assert "notebooks/33_imerg_validation.ipynb" in html


@pytest.mark.slow
def test_nowcast_dashboard_on_the_run_outputs_maps_every_method_of_notebook_11(run_outputs):
    root = run_outputs("11_nowcast_evaluate")
    dash = NowcastDashboard.from_results(root)
    _render(dash.panel())
    stored = open_results("nowcast", root)
    titles = list(_maps(dash))
    for method in stored["method"].values:
        assert any(title.startswith(str(method)) for title in titles), (method, titles)
    dash.lead_time = dash.leads[-1]
    observed = next(live for title, live in _maps(dash).items() if title.startswith("observed"))
    np.testing.assert_array_equal(_pixels(observed),
                                  stored["observed"].isel(case=dash.start, lead_time=len(dash.leads) - 1).values)
