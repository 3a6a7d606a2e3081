"""The choices suite: every training choice beside the paper's dcgan32, ranked by probe accuracy
with dcgan compare's verdict, at smoke scale (the built-in digits, toy widths), end to end."""

import pandas as pd
import pytest

from bench import cell_graph, run, suite_report, suites
from dcgan import variants

from .conftest import argv


def test_the_choices_suite_covers_every_registered_choice_at_every_scale(tmp_path, monkeypatch):
    # no CIFAR-10 here: the cpu scale falls back to the digits
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(tmp_path))
    for scale in ("full", "cpu", "smoke"):
        s = suites.choices(scale)
        assert [n for n, _ in s.variants] == ["dcgan32", *variants.in_group("choice")]
        trains = [c for c in cell_graph.cells(s) if c.kind == "train"]
        assert len(trains) == len(s.variants) * len(s.seeds)
        # equal images seen: one step count, one batch size
        assert len({dict(c.settings)["steps"] for c in trains}) == 1
        assert len({dict(o).get("batch_size") for _, o in s.variants}) == 1
    assert len(suites.choices("full").seeds) == len(suites.choices("cpu").seeds) == 3
    with pytest.raises(Exception, match="the choices suite has the scale"):
        suites.choices("huge")


@pytest.mark.slow
def test_the_choices_suite_runs_and_ranks_at_smoke_scale(tmp_path, capsys):
    args = argv(
        "--suite choices --scale smoke --runs {} --results {}",
        tmp_path / "runs",
        tmp_path / "results",
    )
    assert run.main(args) == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "results" / "choices-smoke" / "report-current" / "ranking.csv")
    measured = table[table["source"] == "measured"]
    assert len(measured) == 1 + len(variants.in_group("choice")) and (measured["seeds"] == 2).all()
    assert list(measured["rank"]) == list(range(1, len(measured) + 1))
    assert measured["probe accuracy %"].is_monotonic_decreasing
    assert measured["random-init control %"].notna().all()
    baseline = suites.choices("smoke").ranked_against
    verdicts = measured.set_index("model")[f"against {baseline}"]
    assert verdicts[baseline] == "the baseline"
    assert all(
        v.split(" ")[0] in ("improvement", "regression", "within", "no")
        for m, v in verdicts.items()
        if m != baseline
    ), verdicts
    assert (table["source"].str.startswith("quoted")).sum() == 0  # digits-10 has no paper row
    # the moving average of G acts on samples only: its D, and so its probe, is dcgan32's
    ema = measured.set_index("model").filter(like="dcgan32-ema", axis=0).iloc[0]
    assert ema["probe accuracy %"] == measured.set_index("model").loc[baseline, "probe accuracy %"]
    assert "D trains exactly as" in ema["note"]


def test_the_ranking_says_why_kid_is_blank_and_which_choice_cannot_change_d(tmp_path, monkeypatch):
    """Rows built by hand for the cpu scale's cells (the smoke scale has no fidelity cells): a
    blank KID names its reason, and a choice that acts on G's samples only (g_ema) is marked as
    training dcgan32's very D."""
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(tmp_path))
    s = suites.choices("cpu")
    all_cells = cell_graph.cells(s)
    records = {}
    for i, c in enumerate(all_cells):
        common = {"variant": c.variant, "seed": c.seed, "checkpoint": f"{c.label}-{c.seed}"}
        if c.kind in ("probe", "control"):
            source = "measured" if c.kind == "probe" else "control (random init)"
            row = {**common, "source": source, "protocol": "digits-10", "metric": "acc"}
            records[c.id] = {"rows": [{**row, "value": 50.0 + i % 7, "weights": c.kind}]}
        elif c.kind == "fidelity":
            missing = "not computed: Inception weights missing: /w.pth does not exist. Put it there"
            records[c.id] = {"rows": [{**common, "metric": "KID", "value": None, "note": missing}]}
    table = suite_report.ranking(records, all_cells, s.ranked_against).set_index("model")
    measured = table[table["source"] == "measured"]
    assert (measured["note"].str.startswith("KID not computed: Inception weights missing")).all()
    same_d = measured["note"].str.contains("D trains exactly as")
    ema = [m for m in measured.index if m.startswith("dcgan32-ema")]
    assert ema and list(measured.index[same_d]) == ema
    assert "g_ema=0.999 acts on G's samples only" in measured.loc[ema[0], "note"]


def test_only_sampling_fields_leave_training_the_same():
    base = variants.get("dcgan32")
    assert variants.same_training(base, variants.get("dcgan32-ema"))
    assert variants.same_training(base, variants.get("dcgan32", g_ema=0.5))
    for name in variants.in_group("choice"):
        if name != "dcgan32-ema":
            assert not variants.same_training(base, variants.get(name)), name
    assert not variants.same_training(base, variants.get("dcgan32", g_ema=0.5, lr=1e-3))
