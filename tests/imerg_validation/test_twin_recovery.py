"""End to end on a week of the twin: the validation recovers the error ordering the generator injected.

The generator gives each sensor its retrieval skill (GMI > AMSR2 > SSMIS > MHS),
decays the morphed estimate with its age and blends in the weaker IR; the
skill is a correlation, so correlation is the score checked. A week is the
smallest sample in which the strata separate (three days reverse GMI and
SSMIS on this seed: GMI overpasses are rare).
"""

from __future__ import annotations

import pytest

import averse
from averse.catalog.views import rain_field
from averse.imerg_validation.colocation import colocate
from averse.imerg_validation.uncertainty import block_statistics, bootstrap_scores, ordering_test, time_blocks
from averse.imerg_validation.validation import stratify, validate
from averse.twin.sensors.imerg import sensor_ranking


@pytest.fixture(scope="module")
def week_tests():
    tree = averse.open_dataset("twin", region="idf", seed=0, days=7)
    coloc = colocate(tree["imerg"].to_dataset(), rain_field(tree, group="radar"), 0.9).load()
    options = {"sensor_ranking": sensor_ranking()}
    strata, tables = stratify(coloc, **options), validate(coloc, "radar", 0.1, **options)
    imerg, radar = (coloc[name].transpose("time", "y", "x").values for name in ("precipitation", "radar"))
    blocks = time_blocks(coloc["time"].values, "12h")
    tests = {}
    for key in ("sensor", "source", "time since overpass", "precipitationQualityIndex"):
        samples = bootstrap_scores(block_statistics(imerg, radar, strata[key], blocks), strata[key], 500, seed=0)
        test = ordering_test(tables[key], samples["corr"], strata[key], "corr", min_pixels=100, confidence=0.9)
        tests[key] = (test, test["pairs"].set_index(["better", "worse"])["decision"])
    return tests


def test_kinds_of_estimate_are_ranked_as_injected(week_tests):
    test, decisions = week_tests["source"]
    assert test["recovered"], test["pairs"]
    assert ("conical imager", "cross-track sounder") in decisions.index
    assert ("morphed", "IR-dominated") in decisions.index


def test_sensors_are_never_ranked_against_their_injected_skill(week_tests):
    test, decisions = week_tests["sensor"]
    assert test["consistent"], test["pairs"]
    assert decisions["GMI", "MHS"] == decisions["AMSR2", "MHS"] == "as expected"


def test_skill_falls_with_time_since_overpass_and_rises_with_the_quality_index(week_tests):
    test, decisions = week_tests["time since overpass"]
    assert test["consistent"], test["pairs"]
    assert decisions["[0, 30) min", "[60, 120) min"] == "as expected"
    test, decisions = week_tests["precipitationQualityIndex"]
    assert test["consistent"], test["pairs"]
    assert decisions["[0.8, 1]", "[0.4, 0.6)"] == "as expected"
