"""Checks of bezier_distill.compare.naming: the one format of a comparison's method names."""

import pytest

from bezier_distill.compare.config import CompareConfig
from bezier_distill.compare.naming import (
    BASELINES,
    COMPARE_OBJECTIVES,
    TEACHER_SETS,
    Method,
    objective_settings,
    objective_slug,
    parse_or_none,
)
from bezier_distill.errors import BadInput


def test_every_name_reads_back_as_the_method_it_names():
    written = {
        "1-RF": Method.rf(1),
        "3-RF + distill": Method.rf(3).distill(),
        "Bezier n=2 [1-RF] chord": Method.bezier(2, "1-RF", "chord"),
        "Bezier n=3 [1-RF guides+2-RF end] end/mixed@0.2": Method.bezier(
            3, "1-RF guides+2-RF end", "end/mixed@0.2"
        ),
        "Bezier n=2 [1-RF] end @ 2-RF compute": Method.bezier(2, "1-RF", "end").at_compute_of(2),
        "1-RF + distill @ 4-RF compute": Method.rf(1).distill().at_compute_of(4),
        "OT-CFM + distill": Method.of_baseline("OT-CFM").distill(),
        **{b: Method.of_baseline(b) for b in BASELINES},
    }
    for text, method in written.items():
        assert str(method) == text and Method.parse(text) == method
    for ts in TEACHER_SETS:
        for objective in COMPARE_OBJECTIVES:
            method = Method.bezier(2, ts, objective)
            assert (
                Method.parse(str(method)) == method
                and Method.parse(str(method.at_compute_of(3))).base == method
            )


def test_families_and_kinds_follow_from_the_name():
    family = {
        "2-RF": "k-RF",
        "2-RF + distill": "k-RF + distill",
        "1-RF + distill @ 2-RF compute": "k-RF + distill, equal compute",
        "Bezier n=2 [1-RF x2] end": "Bezier",
        "Bezier n=2 [1-RF] end @ 3-RF compute": "Bezier, equal compute",
        "2-RF++": "baseline",
        "OT-CFM + distill": "baseline",
        "MeanFlow": "baseline",
    }
    assert {m: Method.parse(m).family for m in family} == family
    assert Method.parse("Bezier n=2 [1-RF] end @ 3-RF compute").is_bezier
    assert [m for m in family if Method.parse(m).is_distilled_rf] == ["2-RF + distill"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "RF",
        "01-RF",
        "1-RF+distill",
        "1-RF + distill\n",
        "Bezier n=02 [1-RF] end",
        "Bezier n=2 [1-RF]",
        "FM",
        "1-RF @ 2-RF",
    ],
)
def test_what_is_not_a_name_as_written_is_refused(text):
    with pytest.raises(ValueError, match="not a method name"):
        Method.parse(text)
    assert parse_or_none(text) is None


def test_a_compare_objective_names_its_settings_and_folder():
    assert objective_settings("end") == {"objective": "end", "time_sampling": "uniform", "guide_noise": 0.0}
    assert objective_settings("end/mixed@0.2") == {
        "objective": "end",
        "time_sampling": "mixed",
        "guide_noise": 0.2,
    }
    assert objective_slug("end/mixed@0.2") == "end_mixed_noise0.2"


def test_the_config_reads_its_recipes_through_the_names():
    assert CompareConfig(primary_one_step="Bezier n=3 [1-RF x2] end", baseline_one_step="2-RF + distill")
    for flag, bad in (
        ("primary_one_step", "Bezier n=02 [1-RF] end"),  # not as a comparison writes it
        ("primary_one_step", "Bezier n=2 [1-RF] end @ 2-RF compute"),  # a twin is not a recipe
        ("primary_two_step", "Bezier n=2 [1-RF] end/grid"),  # not an objective of the run
        ("baseline_one_step", "1-RF + distill @ 2-RF compute"),
        ("baseline_two_step", "4-RF + distill"),  # above --rectifications
    ):
        with pytest.raises(BadInput, match=flag.replace("_", "-")):
            CompareConfig(**{flag: bad})


def test_a_teacher_set_takes_no_guide_noise():
    # only an objective takes @NOISE; a teacher set so spelled names no teachers
    with pytest.raises(BadInput, match="--teacher-sets must list some of"):
        CompareConfig(teacher_sets="1-RF,1-RF@0.1")
