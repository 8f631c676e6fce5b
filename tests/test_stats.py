"""Checks of bezier_distill.compare.stats: paired t intervals, Holm, TOST and the verdicts."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
from conftest import need
from scipy import stats as sps

from bezier_distill.compare.stats import (
    VERDICTS,
    PairedDifference,
    Summary,
    holm,
    paired_difference,
    summary,
    verdicts,
)

T975_2 = 4.302652729749464  # t_{0.975, 2}


def _diff(d, *, margin=None, level=0.95):
    """paired_difference of the differences ``d`` (against a zero baseline)."""
    return paired_difference(list(d), [0.0] * len(d), margin=margin, level=level)


# ----------------------------------------------------------------------------- summary


def test_summary_mean_and_sample_sd():
    s = summary([1.0, 2.0, 3.0, 4.0])
    assert s == Summary(2.5, math.sqrt(5 / 3), 4)
    assert summary([0.7]) == Summary(0.7, 0.0, 1)
    assert summary(np.array([0.1, 0.1, 0.1])).sd == 0.0


def test_summary_format():
    assert str(Summary(0.4234, 0.01234, 3)) == "0.423 ± 0.012"
    assert str(Summary(0.00421, 0.00109, 3)) == "0.0042 ± 0.0011"
    assert str(Summary(-0.05, 0.2, 2)) == "-0.0500 ± 0.2000"
    assert str(Summary(12.3456, 0.0, 1)) == "12.346"
    assert str(Summary(0.0042, 0.0, 1)) == "0.0042"


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")], [[1.0, 2.0]], ["x"]])
def test_summary_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        summary(bad)


# ----------------------------------------------------------------------------- paired t


def test_t_interval_by_hand():
    d = paired_difference([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])  # d = [1, 2, 3]
    assert (d.mean, d.sd, d.n, d.level) == (2.0, 1.0, 3, 0.95)
    half = T975_2 * 1.0 / math.sqrt(3)
    assert half == pytest.approx(2.4841, abs=1e-4)
    assert d.low == pytest.approx(2 - half, abs=1e-12)
    assert d.high == pytest.approx(2 + half, abs=1e-12)
    # t = 2 / (1 / sqrt 3) = 2 sqrt 3; with 2 df the two-sided p is 1 - t / sqrt(t^2 + 2) in closed form.
    t = 2 * math.sqrt(3)
    assert d.p == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-12)
    assert d.p_equivalence is None


def test_t_interval_other_level_by_hand():
    d = _diff([1.0, 2.0, 3.0], level=0.90)
    half = sps.t.ppf(0.95, 2) / math.sqrt(3)
    assert (d.low, d.high) == pytest.approx((2 - half, 2 + half), abs=1e-12)
    assert d.level == 0.90


@pytest.mark.parametrize("seed", range(8))
def test_against_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    a = rng.normal(1.0, 0.3, n)
    b = a + rng.normal(rng.normal(0, 0.2), 0.1, n)
    level = float(rng.choice([0.8, 0.9, 0.95, 0.99]))
    d = paired_difference(a, b, level=level)
    ref = sps.ttest_rel(a, b)
    assert d.p == pytest.approx(float(ref.pvalue), abs=1e-12)
    diff = a - b
    low, high = sps.t.interval(level, n - 1, loc=diff.mean(), scale=sps.sem(diff))
    assert d.low == pytest.approx(low, abs=1e-12)
    assert d.high == pytest.approx(high, abs=1e-12)
    assert d.mean == pytest.approx(diff.mean(), abs=1e-15)
    assert d.sd == pytest.approx(diff.std(ddof=1), abs=1e-15)


def test_single_seed_is_uninformative():
    d = paired_difference([0.3], [0.5], margin=0.1)
    assert (d.mean, d.sd, d.n) == pytest.approx((-0.2, 0.0, 1))
    assert (d.low, d.high) == (-math.inf, math.inf)
    assert d.p == 1.0 and d.p_equivalence == 1.0
    assert paired_difference([0.3], [0.5]).p_equivalence is None


def test_zero_sd_is_degenerate_not_nan():
    # Every difference the same (0.25 three times): interval collapses, p is 0 or 1.
    d = paired_difference([1.25, 2.25, 3.75], [1.0, 2.0, 3.5], margin=0.5)
    assert (d.mean, d.sd, d.low, d.high) == (0.25, 0.0, 0.25, 0.25)
    assert d.p == 0.0 and d.p_equivalence == 0.0
    # Equal up to rounding (0.3 - 0.2 != 0.4 - 0.3 in floats): a tiny SD, still finite and decided.
    d = paired_difference([0.3, 0.4, 0.5], [0.2, 0.3, 0.4], margin=0.5)
    values = (d.mean, d.sd, d.low, d.high, d.p, d.p_equivalence)
    assert all(math.isfinite(v) for v in values)
    assert d.p < 1e-12 and d.p_equivalence < 1e-12
    d = paired_difference([1.0, 1.0], [1.0, 1.0], margin=0.5)
    assert (d.mean, d.sd, d.low, d.high, d.p, d.p_equivalence) == (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    d = _diff([0.5, 0.5], margin=0.5)  # |mean| == margin: not inside the open margin
    assert d.p == 0.0 and d.p_equivalence == 1.0
    d = _diff([-2.0] * 4, margin=0.5)
    assert d.p == 0.0 and d.p_equivalence == 1.0


@pytest.mark.parametrize(
    ("a", "b", "kwargs"),
    [
        ([], [], {}),
        ([1.0, 2.0], [1.0], {}),
        ([1.0, float("nan")], [1.0, 2.0], {}),
        ([1.0, 2.0], [1.0, float("inf")], {}),
        ([[1.0, 2.0]], [[1.0, 2.0]], {}),
        ([1.0, 2.0], [0.0, 0.0], {"margin": 0.0}),
        ([1.0, 2.0], [0.0, 0.0], {"margin": -0.1}),
        ([1.0, 2.0], [0.0, 0.0], {"margin": float("inf")}),
        ([1.0, 2.0], [0.0, 0.0], {"margin": float("nan")}),
        ([1.0, 2.0], [0.0, 0.0], {"level": 1.0}),
        ([1.0, 2.0], [0.0, 0.0], {"level": 0.0}),
        ([1e308, 1e308], [-1e308, -1e308], {}),
    ],
)
def test_paired_difference_rejects_bad_input(a, b, kwargs):
    with pytest.raises(ValueError):
        paired_difference(a, b, **kwargs)


# ----------------------------------------------------------------------------- TOST


def test_tost_by_hand():
    d = _diff([0.1, 0.2, 0.3, 0.2], margin=0.5)
    mean = 0.2
    sd = math.sqrt(((0.1 - mean) ** 2 + (0.3 - mean) ** 2) / 3)
    se = sd / 2
    p_low = 1 - sps.t.cdf((mean + 0.5) / se, 3)
    p_high = sps.t.cdf((mean - 0.5) / se, 3)
    assert d.p_equivalence == pytest.approx(max(p_low, p_high), abs=1e-12)
    assert d.p_equivalence == pytest.approx(p_high, abs=1e-12)  # the mean sits nearer +margin


def test_tost_by_hand_closed_form():
    # d = [1, 2, 3], margin 3: p_high = T((2 - 3) / (1/sqrt 3)) = T(-sqrt 3),
    # and with 2 df T(x) = 1/2 + x / (2 sqrt(x^2 + 2)).
    d = _diff([1.0, 2.0, 3.0], margin=3.0)
    x = -math.sqrt(3)
    assert d.p_equivalence == pytest.approx(0.5 + x / (2 * math.sqrt(x * x + 2)), abs=1e-12)


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("rel", [1e-9, -1e-9])
def test_equivalent_exactly_when_interval_inside_margin(sign, rel):
    # d = ±[1, 2, 3]: not significant (p ~ 0.074); its 95 % interval reaches 2 + 2.4841 on one side.
    d0 = _diff([sign * v for v in (1.0, 2.0, 3.0)])
    assert d0.p > 0.05
    edge = max(abs(d0.low), abs(d0.high))
    assert edge == pytest.approx(2 + T975_2 / math.sqrt(3), abs=1e-12)
    margin = edge * (1 + rel)
    d = _diff([sign * v for v in (1.0, 2.0, 3.0)], margin=margin)
    inside = -margin < d.low and d.high < margin
    assert inside == (rel > 0)
    assert verdicts([d]) == ["equivalent" if rel > 0 else "inconclusive"]


@pytest.mark.parametrize("seed", range(20))
def test_equivalence_matches_interval_on_random_inputs(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 8))
    d = rng.normal(rng.normal(0, 0.05), rng.uniform(0.01, 0.2), n)
    margin = float(rng.uniform(0.02, 0.5))
    diff = _diff(d, margin=margin)
    (v,) = verdicts([diff])
    if diff.p < 0.05:
        assert v == ("better" if diff.mean < 0 else "worse")
    else:
        assert (v == "equivalent") == (-margin < diff.low and diff.high < margin)


# ----------------------------------------------------------------------------- Holm


def test_holm_textbook():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)


def test_holm_monotone_and_capped():
    p = [0.5, 0.01, 0.3, 0.02, 0.9]
    adj = holm(p)
    # sorted: 0.01*5 = 0.05, 0.02*4 = 0.08, 0.3*3 = 0.9, 0.5*2 = 1.0 (capped), 0.9*1 -> max 1.0
    assert adj == pytest.approx([1.0, 0.05, 0.9, 0.08, 1.0], abs=1e-15)
    assert all(x <= 1.0 for x in adj)
    order = np.argsort(p)
    assert all(np.diff(np.asarray(adj)[order]) >= 0)
    assert all(a >= q for a, q in zip(adj, p))


def test_holm_random_monotone():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.3, 25)
    adj = np.asarray(holm(p))
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)
    assert np.all(adj >= p) and np.all(adj <= 1.0)


def test_holm_edge_cases():
    assert holm([]) == []
    assert holm([0.03]) == [0.03]
    assert holm([0.02, 0.02]) == [0.04, 0.04]
    assert holm([0.0, 1.0]) == [0.0, 1.0]


@pytest.mark.parametrize("bad", [[0.1, -0.01], [1.5], [float("nan")], [[0.1, 0.2]]])
def test_holm_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        holm(bad)


def test_holm_matches_statsmodels():
    need("statsmodels")
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    p = rng.uniform(0, 0.2, 9)
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-15)


# ----------------------------------------------------------------------------- verdicts


def test_clear_improvement_and_clear_loss():
    base = [0.50, 0.52, 0.49, 0.51, 0.50]
    better = paired_difference([0.30, 0.33, 0.29, 0.30, 0.31], base)
    worse = paired_difference([0.80, 0.83, 0.79, 0.80, 0.81], base)
    assert better.high < 0 < worse.low
    assert verdicts([better]) == ["better"]
    assert verdicts([worse]) == ["worse"]
    assert verdicts([better, worse]) == ["better", "worse"]


def test_holm_turns_a_significant_result_inconclusive():
    # Alone, p ~ 0.03 < 0.05 counts; in a family of three with two null results, 3 p ~ 0.09 does not.
    d = _diff([1.0, 1.2, 0.8, 1.1, -0.4, 0.9, -0.1])
    assert 0.02 < d.p < 0.05
    null = _diff([0.3, -0.2, 0.1, -0.4, 0.2, 0.0, -0.1])
    assert null.p > 0.5
    assert verdicts([d]) == ["worse"]
    assert holm([d.p, null.p, null.p])[0] >= 0.05
    assert verdicts([d, null, null]) == ["inconclusive"] * 3


def test_holm_applies_to_the_equivalence_family():
    # Each alone is equivalent (TOST p just under 0.025); Holm over the pair doubles the smaller one.
    d = _diff([1.0, 2.0, 3.0], margin=2 + T975_2 / math.sqrt(3) + 1e-6)
    assert d.p_equivalence < 0.025 < 2 * d.p_equivalence
    assert verdicts([d]) == ["equivalent"]
    assert verdicts([d, d]) == ["inconclusive", "inconclusive"]
    # Diffs without a margin are not members of the equivalence family.
    assert verdicts([d, _diff([1.0, 2.0, 3.0])]) == ["equivalent", "inconclusive"]


def test_significance_comes_before_equivalence():
    # Interval inside the margin but excluding 0: a significant difference is reported as such.
    d = _diff([0.10, 0.11, 0.09, 0.10], margin=1.0)
    assert d.low > -1.0 and d.high < 1.0 and d.p < 0.05
    assert verdicts([d]) == ["worse"]


def test_a_report_marks_a_significant_difference_inside_the_margin():
    from bezier_distill.compare.claims import Claim, claim_paragraph

    def line(d, margin):
        (v,) = verdicts([d])
        metric = {"diff": d, "p_holm": d.p, "margin": margin, "verdict": v}
        result = {
            "dataset": "moons",
            "candidate": "A",
            "baseline": "B",
            "verdict": v,
            "metrics": {"W2": metric},
        }
        return claim_paragraph(Claim("Claim", "1", "A", "B"), [result], {}, {}).splitlines()[2]

    small = _diff([0.10, 0.11, 0.09, 0.10], margin=1.0)
    assert "worse (by less than the margin)" in line(small, 1.0)
    assert "worse -> **worse**" in line(_diff([0.10, 0.11, 0.09, 0.10], margin=0.05), 0.05)
    assert "(by less than" not in line(_diff([0.0, 0.01, -0.01, 0.0], margin=1.0), 1.0)  # equivalent


def test_single_seed_is_inconclusive():
    assert verdicts([paired_difference([0.1], [0.9], margin=5.0)]) == ["inconclusive"]
    assert verdicts([paired_difference([0.9], [0.1])]) == ["inconclusive"]
    # A hand-built n = 1 diff with tiny p-values is still inconclusive.
    fake = PairedDifference(-1.0, 0.0, 1, -math.inf, math.inf, 0.0, 0.0, 0.95)
    assert verdicts([fake]) == ["inconclusive"]


def test_zero_sd_verdicts():
    assert verdicts([_diff([-0.1, -0.1, -0.1])]) == ["better"]
    assert verdicts([_diff([0.2, 0.2])]) == ["worse"]
    assert verdicts([_diff([0.0, 0.0, 0.0])]) == ["inconclusive"]
    assert verdicts([_diff([0.0, 0.0, 0.0], margin=0.1)]) == ["equivalent"]
    # Zero SD with mean 0 and |mean| >= margin cannot happen (margin > 0), so check the mean != 0 family.
    assert verdicts([_diff([0.1, 0.1], margin=0.5), _diff([0.0, 0.0], margin=0.5)]) == [
        "worse",
        "equivalent",
    ]


def test_verdicts_are_known_and_in_order():
    diffs = [
        _diff([0.0, 0.0, 0.0], margin=0.1),
        _diff([-1.0, -1.1, -0.9, -1.0]),
        _diff([0.3, -0.2, 0.1]),
    ]
    out = verdicts(diffs)
    assert out == ["equivalent", "better", "inconclusive"]
    assert set(out) <= set(VERDICTS)
    assert verdicts([]) == []


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, float("nan")])
def test_verdicts_reject_bad_alpha(alpha):
    with pytest.raises(ValueError):
        verdicts([_diff([1.0, 2.0])], alpha=alpha)


def test_verdicts_reject_non_differences():
    with pytest.raises(ValueError):
        verdicts([0.03])


def test_options_table_decides_each_option_against_the_baseline(tmp_path):
    # scripts/options_table.py (the option tables of docs/RESULTS.md) on a made-up comparison:
    # one option clearly better than the baseline on every seed, one indistinguishable from it
    spec = importlib.util.spec_from_file_location("options_table", "scripts/options_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rng = np.random.default_rng(0)
    fields = ["dataset", "seed", "method", "family", "nfe_budget", "objective", "quality"]
    lines = [",".join(fields)]
    for seed in range(5):
        base = 1.0 + rng.normal(0, 0.1)
        for method, family, objective, score in (
            ("1-RF + distill", "k-RF + distill", "", base),
            ("Bezier n=2 [1-RF] end/mixed", "Bezier", "end/mixed", base - 0.5 + rng.normal(0, 0.01)),
            ("Bezier n=2 [1-RF] end", "Bezier", "end", base + rng.normal(0, 0.3)),
            ("Bezier n=2 [1-RF] chord", "Bezier", "chord", base),
        ):
            lines.append(f"moons,{seed},{method},{family},1,{objective},{score}")
    (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
    margin = {"W2": {"margin": 0.05}}
    claims = {"margin": 0.05, "claims": [{"results": [{"dataset": "moons", "metrics": margin}]}]}
    (tmp_path / "claims.json").write_text(json.dumps(claims))
    text = script.main([str(tmp_path), "--nfe", "1", "--objectives", "end/mixed,end"])
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()[2:]}
    assert set(rows) == {"Bezier n=2 [1-RF] end/mixed", "Bezier n=2 [1-RF] end"}  # chord not asked for
    assert rows["Bezier n=2 [1-RF] end/mixed"].endswith("better** |")
    assert rows["Bezier n=2 [1-RF] end"].endswith(" inconclusive |")


def test_accumulation_table_pairs_each_twin_with_the_reference(tmp_path):
    # scripts/accumulation_table.py: a twin whose 2-RF is worse by 0.1 on every seed and drifts
    # as far shows +0.1 [+0.1, +0.1] and +0 against the reference; a dataset only one run has is left out
    spec = importlib.util.spec_from_file_location("accumulation_table", "scripts/accumulation_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fields = "dataset,seed,method,nfe_budget,quality,coupling_drift"
    for name, shift, datasets in (("ref", 0.0, ("moons", "spirals")), ("twin", 0.1, ("moons",))):
        lines = [fields]
        for d in datasets:
            for seed in range(3):
                lines += [
                    f"{d},{seed},1-RF,ODE,{1 + seed / 10},0",
                    f"{d},{seed},2-RF,ODE,{1.2 + seed / 10 + shift},{0.5 + seed / 10}",
                    f"{d},{seed},2-RF + distill,1,{1.3 + seed / 10},",
                ]
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.csv").write_text("\n".join(lines) + "\n")
    text = script.main([str(tmp_path / "ref"), str(tmp_path / "twin"), "--rectifications", "2"])
    rows = [line.split(" | ") for line in text.splitlines()[2:]]
    assert [r[0].strip("| ") for r in rows] == ["moons", "moons"]
    two = rows[1]
    assert two[6] == "+0.1 [+0.1, +0.1]" and two[8] == "+0 [+0, +0]"
