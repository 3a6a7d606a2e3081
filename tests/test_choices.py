"""The choices suite: every training choice beside the paper's dcgan32, ranked by probe accuracy
with dcgan compare's verdict, at smoke scale (the built-in digits, toy widths), end to end."""

import pandas as pd
import pytest

from bench import run, suites
from dcgan import variants

from .conftest import argv


def test_the_choices_suite_covers_every_registered_choice_at_every_scale(tmp_path, monkeypatch):
    # no CIFAR-10 here: the cpu scale falls back to the digits
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(tmp_path))
    for scale in ("full", "cpu", "smoke"):
        s = suites.choices(scale)
        assert [n for n, _ in s.variants] == ["dcgan32", *variants.CHOICE_VARIANTS]
        trains = [c for c in suites.cells(s) if c.kind == "train"]
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
    assert len(measured) == 1 + len(variants.CHOICE_VARIANTS) and (measured["seeds"] == 2).all()
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
