import json

import numpy as np
import pytest

from dcgan import cli
from dcgan.reporting import compare


def probe_row(
    variant,
    per_draw,
    seeds="selection 0..9, test 1000..1009",
    source="measured",
    time="2026-11-22T10:00:00+0000",
):
    per_draw = [float(x) for x in per_draw]
    return {
        "protocol": "cifar10-400",
        "metric": "test_accuracy_pct",
        "variant": variant,
        "source": source,
        "weights": "step 400",
        "value": float(np.mean(per_draw)),
        "std": float(np.std(per_draw)),
        "per_draw": per_draw,
        "draw_seeds": seeds,
        "time": time,
    }


def throughput_row(variant, rate):
    return {
        "stage": "train",
        "device_name": "CPU (2 threads)",
        "variant": variant,
        "items_per_s": rate,
        "unit": "images",
    }


def write(path, rows):
    path.write_text(json.dumps(rows))
    return str(path)


@pytest.fixture
def draws():
    return np.random.default_rng(0).normal(60.0, 0.5, 10)


def test_planted_regression_fails_and_names_the_metric(tmp_path, draws, capsys):
    noise = np.random.default_rng(1).normal(0, 0.1, 10)
    base = write(
        tmp_path / "base.json", [probe_row("dcgan32", draws), throughput_row("dcgan32", 500.0)]
    )
    new = write(
        tmp_path / "new.json",
        [probe_row("dcgan32", draws - 3.0 + noise), throughput_row("dcgan32", 100.0)],
    )
    assert cli.main(["compare", base, new, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    by = {v["kind"]: v for v in out["verdicts"]}
    assert by["probe"]["verdict"] == "regression" and by["probe"]["noise"].startswith(
        "paired t-test over 10"
    )
    assert by["probe"]["delta"] == pytest.approx(-3.0 + noise.mean())
    # a slower step is reported but does not gate: timings move with the machine
    assert (
        by["throughput"]["verdict"] == "regression"
        and not by["throughput"]["gated"]
        and out["regressions"] == 1
    )


def test_planted_no_change_passes(tmp_path, draws, capsys):
    noise = np.random.default_rng(2).normal(0, 0.3, 10)
    base = write(tmp_path / "base.json", [probe_row("dcgan32", draws)])
    new = write(tmp_path / "new.json", [probe_row("dcgan32", draws + noise)])
    assert cli.main(["compare", base, new, "--json"]) == 0
    (v,) = json.loads(capsys.readouterr().out)["verdicts"]
    assert v["verdict"] == "no change (within band)"


def test_a_change_beyond_the_band_that_noise_explains_is_not_a_regression(draws):
    # two draws each, different seeds, a huge spread: a 2-point drop is within the noise
    base = [probe_row("a", [55.0, 65.0], seeds="selection 0..1")]
    new = [probe_row("a", [52.0, 64.0], seeds="selection 5..6")]
    (v,) = compare.compare(base, new)
    assert (
        v["verdict"] == "no change (within noise)"
        and v["noise"].startswith("Welch")
        and v["p_value"] > 0.05
    )
    assert not compare.failed([v])


def test_two_variants_within_one_set_and_controls_matched_separately(tmp_path, draws, capsys):
    rows = [
        probe_row("dcgan32", draws),
        probe_row("dcgan32-nobn", draws + 2.0),
        probe_row("dcgan32", draws - 10, source="measured (control)"),
        probe_row("dcgan32-nobn", draws - 10, source="measured (control)"),
        {
            "protocol": "cifar10-400",
            "metric": "test_accuracy_pct",
            "variant": "DCGAN + L2-SVM",
            "source": "quoted from the paper",
            "value": 73.8,
        },
    ]
    folder = tmp_path / "set"
    folder.mkdir()
    write(folder / "rows.json", rows)
    (folder / "other.json").write_text(json.dumps({"speed_ratio": 30}))  # not rows: skipped
    assert (
        cli.main(["compare", str(folder), "--variants", "dcgan32", "dcgan32-nobn", "--json"]) == 0
    )
    verdicts = {v["what"]: v["verdict"] for v in json.loads(capsys.readouterr().out)["verdicts"]}
    assert verdicts == {
        "cifar10-400 / test_accuracy_pct / measured": "improvement",
        "cifar10-400 / test_accuracy_pct / control": "no change (within band)",
    }


def test_newest_row_of_a_model_counts_once(draws):
    old = probe_row("a", draws - 5, time="2026-11-20T10:00:00+0000")
    base = [old, probe_row("a", draws)]
    (v,) = compare.compare(base, [probe_row("a", draws)])
    assert v["delta"] == 0 and v["verdict"] == "no change (within band)"


def test_bad_input_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:  # refused while the command line is read
        cli.main(["compare", str(tmp_path / "missing"), str(tmp_path / "missing")])
    assert exit_.value.code == 2
    assert "argument base: must be an existing file or folder" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["compare", str(bad), str(bad)]) == 1
    assert "is not readable JSON" in capsys.readouterr().err
    rows = write(tmp_path / "rows.json", [probe_row("a", [1, 2])])
    assert cli.main(["compare", rows, "--variants", "a", "zzz"]) == 1
    assert "no measured rows of variant 'zzz'" in capsys.readouterr().err
    assert cli.main(["compare", rows, rows, "--variants", "a", "a"]) == 1
    assert "not both" in capsys.readouterr().err
    assert cli.main(["compare", rows]) == 1
    assert "give two result sets" in capsys.readouterr().err


def test_the_headline_gap_is_paired_over_the_shared_test_draws():
    from scipy import stats

    seeds = "selection 0..0, test 1000..1002 (numpy default_rng, fresh test draws)"
    trained = {
        "protocol": "cifar10-400",
        "metric": "test_accuracy_pct",
        "source": "measured",
        "value": 55.52,
        "per_draw": [55.96, 55.21, 55.39],
        "draw_seeds": seeds,
    }
    control = {
        **trained,
        "source": "measured (control)",
        "value": 45.7367,
        "per_draw": [46.16, 45.59, 45.46],
    }
    g = compare.gap(control, trained)
    assert g["test"] == "paired t-test over 3 shared draws"
    assert g["p_value"] == pytest.approx(
        stats.ttest_rel(trained["per_draw"], control["per_draw"]).pvalue
    )
    assert g["p_value"] < 1e-3 and g["gap"] == pytest.approx(np.mean([9.8, 9.62, 9.93]))
    # other draws on the two sides: not paired
    unpaired = compare.gap({**control, "draw_seeds": "selection 0..0, test 2000..2002"}, trained)
    assert unpaired["test"].startswith("Welch")


def test_a_figure_against_its_control_reads_the_same_in_the_report_and_under_dcgan_probe():
    """compare.against_control: the headline's words (the report's and `dcgan probe`'s), built
    from the rows' own figures and the paired test."""
    from scipy import stats

    seeds = "selection 0..0, test 1000..1002 (numpy default_rng, fresh test draws)"
    trained = {"protocol": "cifar10-400", "metric": "test_accuracy_pct", "source": "measured"}
    trained.update(value=56.5, ci95=0.2, per_draw=[56.54, 56.6, 56.36], draw_seeds=seeds)
    control = {**trained, "source": "measured (control)", "value": 45.7367, "ci95": 0.6}
    control["per_draw"] = [46.16, 45.59, 45.46]
    p = stats.ttest_rel(trained["per_draw"], control["per_draw"]).pvalue
    assert compare.against_control(trained, control) == (
        f"trained 56.50% ± 0.20, random-init control 45.74% ± 0.60: gap +10.76 points,"
        f" p = {p:.2g} (paired t-test over 3 shared draws)"
    )
    # no control measured (or one whose figure is missing), no spread: the figure alone
    assert compare.against_control(trained, None) == "trained 56.50% ± 0.20"
    assert compare.against_control(trained, {**control, "value": None}) == "trained 56.50% ± 0.20"
    assert compare.against_control({**trained, "ci95": None}, None) == "trained 56.50%"


def test_the_gate_cannot_be_switched_off_by_its_own_alpha(tmp_path, draws, capsys):
    """A planted 3-point regression: alpha 0 (or negative, above 0.5, NaN, inf) is refused
    before anything is judged, where it used to report 'no change (within noise)' and exit 0."""
    base = write(tmp_path / "base.json", [probe_row("dcgan32", draws)])
    new = write(tmp_path / "new.json", [probe_row("dcgan32", draws - 3.0)])
    for alpha in ("0", "-1", "0.6", "nan", "inf"):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["compare", base, new, f"--alpha={alpha}"])
        assert exit_.value.code == 2
        assert "argument --alpha: must be a finite number in (0, 0.5]" in capsys.readouterr().err
    assert cli.main(["compare", base, new, "--alpha", "0.5"]) == 1  # the edge it allows: judged


def test_the_rows_csv_the_tool_writes_compares(tmp_path, draws, capsys):
    from dcgan import results

    fields = ["protocol", "metric", "variant", "source", "weights", "value", "std", "draw_seeds"]
    for side, shift in (("base", 0.0), ("new", -3.0)):
        results.write_rows(
            [probe_row("dcgan32", draws + shift)],
            tmp_path / side,
            "probe",
            "probe-rows.csv",
            fields,
        )
    base, new = (str(tmp_path / side / "probe-rows.csv") for side in ("base", "new"))
    assert cli.main(["compare", base, new, "--json"]) == 1
    (v,) = json.loads(capsys.readouterr().out)["verdicts"]
    # the CSV keeps no per-draw figures: one row a side is judged on the band alone
    assert v["verdict"] == "regression" and v["delta"] == pytest.approx(-3.0)
    assert v["noise"] == "no spread on both sides: band only"


def test_a_compare_that_judges_nothing_fails(tmp_path, draws, capsys):
    base = write(tmp_path / "base.json", [probe_row("dcgan32", draws)])
    new = write(tmp_path / "new.json", [throughput_row("dcgan32", 100.0)])
    assert cli.main(["compare", base, new]) == 1
    assert "the two sides share no measurement" in capsys.readouterr().err
    other = write(tmp_path / "other.json", [{"name": "not a result", "value": 3}])
    assert cli.main(["compare", base, other]) == 1
    assert "the two sides share no measurement" in capsys.readouterr().err


def test_the_summary_a_ci_job_shows(tmp_path, draws, capsys, monkeypatch):
    """--summary writes the verdicts as Markdown, and GitHub's step summary gets them appended
    (what was there before kept): the headline says the gate failed, and why."""
    base = write(tmp_path / "base.json", [probe_row("dcgan32", draws)])
    new = write(tmp_path / "new.json", [probe_row("dcgan32", draws - 3.0)])
    step = tmp_path / "step-summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv(compare.SUMMARY_ENV, str(step))
    out = tmp_path / "summary" / "compare.md"
    assert cli.main(["compare", base, new, "--summary", str(out)]) == 1
    text = out.read_text()
    assert text.startswith(
        "## dcgan compare: **1 gated regression(s)** among 1 shared measurements"
    )
    assert "- regression: cifar10-400 / test_accuracy_pct / measured: 60.04 -> 57.04 (-3;" in text
    assert "| probe" in text and "| regression" in text  # the table, as Markdown
    assert step.read_text() == "earlier step\n" + text
    monkeypatch.delenv(compare.SUMMARY_ENV)
    same = write(tmp_path / "same.json", [probe_row("dcgan32", draws)])
    assert cli.main(["compare", base, same, "--summary", str(out)]) == 0
    assert out.read_text().startswith(
        "## dcgan compare: no gated regression among 1 shared measurements"
    )
