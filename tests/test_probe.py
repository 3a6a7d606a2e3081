import dataclasses
import json
import time

import numpy as np
import pytest
import scipy.io
import sklearn.utils

from dcgan import cli, data, features, nets, protocols, svm
from dcgan.errors import UserError
from dcgan.probing import controls, fit_cache, prepare, probe
from dcgan.reporting import compare

from .conftest import TINY_MODEL, argv, tiny


@pytest.fixture
def svhn_root(tmp_path, shared_data):
    """A small SVHN in its own .mat format, made of real photographs (CIFAR-10 test images)."""
    with np.load(shared_data / "cifar10_test.npz") as d:
        x, y = d["x"], d["y"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    for split_name, idx in (("train", order[:700]), ("test", order[700:900])):
        labels = np.where(y[idx] == 0, 10, y[idx])  # SVHN's convention: digit 0 is stored as 10
        scipy.io.savemat(
            tmp_path / f"{split_name}_32x32.mat",
            {"X": x[idx].transpose(1, 2, 3, 0), "y": labels[:, None].astype(np.uint8)},
        )
    return tmp_path


def test_split_and_draws_follow_the_seed_42_procedure(svhn_root):
    train = data.load("svhn", "train", svhn_root)
    val, pool = protocols.split(len(train), 100, 42)
    # the authors' script shuffles the training arrays with seed 42 and validates on the
    # first 10,000
    x_shuffled, y_shuffled = sklearn.utils.shuffle(train.x, train.y, random_state=42)
    assert np.array_equal(train.x[val], x_shuffled[:100]) and np.array_equal(
        train.y[pool], y_shuffled[100:]
    )
    assert len(set(val) | set(pool)) == len(train) and not set(val) & set(pool)
    a = protocols.draw(pool, train.y, 5, seed=3)
    assert np.bincount(train.y[a]).tolist() == [5] * 10  # class balanced
    assert not set(a) & set(val)  # never a validation image
    assert np.array_equal(a, protocols.draw(pool, train.y, 5, seed=3))  # reproducible
    assert not np.array_equal(a, protocols.draw(pool, train.y, 5, seed=4))
    assert np.array_equal(protocols.draw(pool, train.y, None, seed=0), pool)
    with pytest.raises(UserError, match="fewer than 500 per draw"):
        protocols.draw(pool, train.y, 500, seed=0)


def test_protocol_end_to_end_with_control_and_quoted_rows(svhn_root, tmp_path):
    v = tiny()
    _, netD = nets.build(v, seed=1)
    protocol = protocols.get("svhn-1000", val_size=100, per_class=20, draws=2, test_draws=3)
    kw = dict(
        data_root=svhn_root,
        grid=[1e-4, 1e-2],
        cache_dir=tmp_path / "cache",
        progress=False,
        log=lambda m: None,
    )
    rows = controls.run_with_control(v, netD, protocol, **kw)
    measured, control, *quoted = rows
    assert measured["metric"] == "test_error_pct" and len(measured["per_draw"]) == 3
    assert measured["C"] == [1e-4, 1e-2][int(np.argmin(measured["val_error_pct_per_C"]))]
    assert 0 <= measured["value"] <= 100 and np.isclose(measured["ci95"], 1.96 * measured["std"])
    assert measured["bn_stats"].startswith("pool:svhn/train-pool(seed=42,val=100)")
    assert (
        control["weights"] == "random init (seed 0)" and control["source"] == "measured (control)"
    )
    assert all(q["source"].startswith("quoted") and "not measured" in q["source"] for q in quoted)
    assert [r["kind"] for r in rows] == ["measured", "control"] + ["quoted"] * len(quoted)
    assert any(q["value"] == 22.48 for q in quoted)
    # a second run extracts nothing again: the features come from the cache
    again = probe.run(netD, protocol, **kw)
    assert again["value"] == measured["value"]
    # (train, test) x (trained, control)
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 4


def test_the_sklearn_backend_gives_the_same_protocol_figures(svhn_root, tmp_path):
    _, netD = nets.build(tiny(), seed=1)
    protocol = protocols.get("svhn-1000", val_size=100, per_class=20, draws=2, test_draws=2)
    kw = dict(
        data_root=svhn_root,
        grid=[1e-3],
        cache_dir=tmp_path / "cache",
        progress=False,
        log=lambda m: None,
    )
    ours, ref = (
        probe.run(netD, protocol, solver="ours", **kw),
        probe.run(netD, protocol, solver="sklearn", **kw),
    )
    assert np.allclose(ours["objective_per_C"], ref["objective_per_C"], rtol=1e-3)
    assert abs(ours["value"] - ref["value"]) <= 1.0  # percentage points, on 200 test images


def test_cli_probe_appends_rows(svhn_root, tmp_path, capsys):
    assert (
        cli.main(
            argv(
                "train {*} --dataset svhn --data-root {} --steps 3 --out {} --no-progress",
                TINY_MODEL,
                svhn_root,
                tmp_path / "run",
            )
        )
        == 0
    )
    args = argv(
        "probe --ckpt {} --protocol svhn-1000 --data-root {} --val-size 100 --per-class 10 --draws"
        " 1 --test-draws 2 --grid 1e-3 --out-dir {} --cache-dir {} --no-progress --json",
        tmp_path / "run",
        svhn_root,
        tmp_path / "rows",
        tmp_path / "cache",
    )
    capsys.readouterr()
    for _ in range(2):
        assert cli.main(args) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out.splitlines()[-1])
    assert out["rows"][0]["protocol"] == "svhn-1000" and out["rows"][1]["weights"].startswith(
        "random init"
    )
    # the headline in the main job's words: the figure against its control
    assert f"svhn-1000: {compare.against_control(out['rows'][0], out['rows'][1])}" in captured.err
    assert "random-init control" in captured.err
    lines = (tmp_path / "rows" / "probe-rows.csv").read_text().splitlines()
    # header + two runs, nothing overwritten
    assert len(lines) == 1 + 2 * (2 + len(protocols.PAPER_ROWS["svhn-1000"]))


def test_probe_errors(svhn_root, tmp_path, capsys):
    _, netD = nets.build(tiny(), seed=0)
    with pytest.raises(
        UserError,
        match="unknown protocol 'cifar100-400'; protocols: svhn-1000, cifar10-400, cifar10-full,"
        " digits-50, digits-10",
    ):
        protocols.get("cifar100-400")
    with pytest.raises(UserError, match="leaves nothing to draw"):
        protocols.split(50, 100, 42)


def test_compare_sklearn_reports_ratio_and_agreement(svhn_root, tmp_path, capsys):
    assert (
        cli.main(
            argv(
                "train {*} --dataset svhn --data-root {} --steps 2 --out {} --no-progress",
                TINY_MODEL,
                svhn_root,
                tmp_path / "run",
            )
        )
        == 0
    )
    capsys.readouterr()
    assert (
        cli.main(
            argv(
                "probe --ckpt {} --protocol svhn-1000 --data-root {} --val-size 100 --per-class 10"
                " --draws 1 --test-draws 1 --grid 1e-3,1e-2 --out-dir {} --cache-dir {}"
                " --no-progress --compare-sklearn --json",
                tmp_path / "run",
                svhn_root,
                tmp_path / "rows",
                tmp_path / "cache",
            )
        )
        == 0
    )
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    # the line for a person: solvers_compared.describe_comparison of the same result
    assert f"ratio {out['speed_ratio']:.1f}x" in captured.err and "at every C" in captured.err
    assert (
        out["speed_ratio"] > 0
        and out["max_objective_rel_diff"] < 1e-3
        and out["max_test_acc_diff_points"] <= 1.0
    )
    assert (
        len(out["objective_rel_diff_per_C"]) == 2
        and out["fits_kept_ours"] == out["fits_kept_sklearn"] == 0
    )
    for side in ("ours", "sklearn"):  # the total is the sum of each fit's seconds, each fit named
        per_fit = out[f"seconds_per_fit_{side}"]
        # svhn-1000 draws fresh images for every C: one selection fit per C
        fresh = [f"fit select seed {probe._fresh_seed(0, 0, c, 1)}" for c in (1e-3, 1e-2)]
        assert list(per_fit) == fresh + [f"fit test seed 1000 C {out[f'C_{side}']}"]
        assert sum(per_fit.values()) == pytest.approx(out[f"seconds_{side}"])
    assert list((tmp_path / "rows").glob("probe-compare-svhn-1000-*.json"))


def _use_fit(monkeypatch, fit):
    """Our solver's registry entry with another fit function (to record or interrupt fits)."""
    monkeypatch.setitem(svm.SOLVERS, "ours", dataclasses.replace(svm.SOLVERS["ours"], fit=fit))


def _quietly(root, cache, grid=(1e-3, 1e-2), **kw) -> dict:
    """probe.run's keywords for the small SVHN file: no progress, no log."""
    return dict(
        data_root=root, grid=list(grid), cache_dir=cache, progress=False, log=lambda m: None, **kw
    )


def test_full_protocol_chooses_C_on_the_pool_then_fits_every_training_image(
    svhn_root, tmp_path, monkeypatch
):
    _, netD = nets.build(tiny(), seed=1)
    calls = []
    real = svm.SOLVERS["ours"].fit

    def recording(X, y, Cs, **kw):
        models = real(X, y, Cs, **kw)
        calls.append((len(X), list(Cs), models, X))
        return models

    _use_fit(monkeypatch, recording)
    # the cifar10-full shape (whole pool, C on validation) on the small SVHN file
    protocol = protocols.get("cifar10-full", dataset="svhn", val_size=100)
    result = probe.run(netD, protocol, **_quietly(svhn_root, tmp_path / "cache"))
    n = len(data.load("svhn", "train", svhn_root))
    assert result["per_class"] is None and len(result["per_draw"]) == 1
    best = int(np.argmin(result["val_error_pct_per_C"]))
    assert result["C"] == [1e-3, 1e-2][best]
    # one fit of the pool over the grid, then one of all n training images walked along the
    # grid up to the chosen C (warm starts), whose last model is the one tested
    assert [(c[0], c[1]) for c in calls] == [(n - 100, [1e-3, 1e-2]), (n, [1e-3, 1e-2][: best + 1])]
    assert calls[1][2][-1].C == result["C"]
    assert result["final_fit"].startswith(f"all {n} training images")
    # the pool's features are a view of the training features, not a second copy of them
    assert np.shares_memory(calls[0][3], calls[1][3])
    test = data.load("svhn", "test", svhn_root)
    assert result["n_test"] == len(test)


def test_the_protocol_fits_the_documented_draws(svhn_root, tmp_path, monkeypatch):
    # probe.run keeps the features as [validation, pool]; its draws must still be exactly
    # draw(pool, train.y, per_class, seed) of the seed-42 split, row for row as a set
    _, netD = nets.build(tiny(), seed=1)
    fitted = []
    real = svm.SOLVERS["ours"].fit
    _use_fit(
        monkeypatch, lambda X, y, Cs, **kw: fitted.append((np.array(X), y)) or real(X, y, Cs, **kw)
    )
    # the shared-draw machinery; svhn-1000's fresh draws are tested below
    protocol = protocols.get(
        "svhn-1000", val_size=100, per_class=20, draws=2, test_draws=1, fresh_draws_per_C=False
    )
    cache = tmp_path / "cache"
    probe.run(netD, protocol, **_quietly(svhn_root, cache, grid=[1e-3], seed=5))
    train = data.load("svhn", "train", svhn_root)
    val, pool = protocols.split(len(train), 100, 42)
    pool_set = data.ImageSet(
        train.x[pool], train.y[pool], train.name, "train-pool(seed=42,val=100)", train.source
    )
    feats, _ = features.cached_features(netD, train, pool_set, "pool", cache, progress=False)
    for (X, y), seed in zip(fitted, [5, 6, 1005], strict=True):
        idx = protocols.draw(pool, train.y, 20, seed)
        expected = np.asarray(feats[idx])
        assert sorted(map(bytes, X)) == sorted(map(bytes, expected))
        assert np.array_equal(np.sort(y), np.sort(train.y[idx]))


def test_an_interrupted_protocol_resumes_at_the_fit_it_was_in(svhn_root, tmp_path, monkeypatch):
    _, netD = nets.build(tiny(), seed=1)
    # the shared-draw machinery; svhn-1000's fresh draws are tested below
    protocol = protocols.get(
        "svhn-1000", val_size=100, per_class=20, draws=3, test_draws=2, fresh_draws_per_C=False
    )
    kw = dict(data_root=svhn_root, grid=[1e-3, 1e-2], progress=False, log=lambda m: None)
    whole = probe.run(netD, protocol, cache_dir=tmp_path / "whole", **kw)
    assert whole["fits_kept"] == 0

    real, calls = svm.SOLVERS["ours"].fit, []

    def interrupted_at_the_fourth_fit(X, y, Cs, **k):
        calls.append(len(calls))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(X, y, Cs, **k)

    _use_fit(monkeypatch, interrupted_at_the_fourth_fit)
    with pytest.raises(KeyboardInterrupt):
        probe.run(netD, protocol, cache_dir=tmp_path / "cut", **kw)
    calls.clear()
    _use_fit(monkeypatch, lambda X, y, Cs, **k: calls.append(1) or real(X, y, Cs, **k))
    resumed = probe.run(netD, protocol, cache_dir=tmp_path / "cut", **kw)
    # 3 selection fits + 2 test fits; the first 3 were finished before the interruption
    assert len(calls) == 2 and resumed["fits_kept"] == 3
    for k in ("value", "C", "per_draw", "val_error_pct_per_C", "test_acc_pct_per_C"):
        assert resumed[k] == pytest.approx(whole[k], rel=1e-9), k
    assert resumed["seconds_svm"] > 0
    # a torn cache file is fitted again, not trusted
    for f in (tmp_path / "cut" / "probe-fits").glob("*.json"):
        f.write_text("{")
    calls.clear()
    again = probe.run(netD, protocol, cache_dir=tmp_path / "cut", **kw)
    assert (
        len(calls) == 5
        and again["fits_kept"] == 0
        and again["value"] == pytest.approx(whole["value"])
    )


def test_finished_fits_are_kept_only_while_the_solvers_code_is_unchanged(
    svhn_root, tmp_path, monkeypatch
):
    _, netD = nets.build(tiny(), seed=1)
    # the shared-draw machinery; svhn-1000's fresh draws are tested below
    protocol = protocols.get(
        "svhn-1000", val_size=100, per_class=20, draws=2, test_draws=1, fresh_draws_per_C=False
    )
    kw = dict(
        data_root=svhn_root,
        grid=[1e-3, 1e-2],
        progress=False,
        log=lambda m: None,
        cache_dir=tmp_path,
    )
    assert probe.run(netD, protocol, **kw)["fits_kept"] == 0
    assert probe.run(netD, protocol, **kw)["fits_kept"] == 3
    # the fingerprint of our solver is its module's text; of scikit-learn's, its version and
    # the code its figures pass through, not our solver's
    assert svm.code_fingerprint("ours") != svm.code_fingerprint("sklearn")
    import sklearn

    ours = svm.code_fingerprint("ours")
    monkeypatch.setattr(sklearn, "__version__", "0.0-another")
    assert svm.code_fingerprint("ours") == ours
    changed = svm.code_fingerprint("sklearn")
    monkeypatch.undo()
    assert changed != svm.code_fingerprint("sklearn")
    # a changed solver (here: a changed fingerprint) fits again instead of reusing older figures
    monkeypatch.setattr(svm, "code_fingerprint", lambda solver: "edited")
    assert probe.run(netD, protocol, **kw)["fits_kept"] == 0


def test_a_resumed_fit_counts_the_seconds_of_its_interrupted_run(tmp_path):
    fits = fit_cache.FitCache(tmp_path, {"features": "f"})

    def interrupted(scratch):
        scratch.write_bytes(b"progress")  # what a long fit saves as it goes
        time.sleep(0.2)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fits.get({"fit": "all"}, interrupted)
    out = fits.get({"fit": "all"}, lambda scratch: {"resumed_from": scratch.read_bytes().decode()})
    assert out["resumed_from"] == "progress" and out["seconds"] >= 0.2
    assert not out["kept"] and list((tmp_path / "probe-fits").glob("*.json")) != []
    assert not list((tmp_path / "probe-fits").glob("*.partial.*")) and not list(
        (tmp_path / "probe-fits").glob("*.seconds")
    )

    # without saved progress there is nothing to resume, so an interrupted run's seconds are
    # not counted
    def interrupted_early(scratch):
        time.sleep(0.2)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fits.get({"fit": "other"}, interrupted_early)
    assert fits.get({"fit": "other"}, lambda scratch: {})["seconds"] < 0.2


def test_the_ladder_steps_are_1_2_5_within_the_range():
    assert probe.ladder_steps(1e-4, -1) == [5e-5, 2e-5, 1e-5]
    assert probe.ladder_steps(1e-2, +1) == [2e-2, 5e-2, 1e-1]
    assert probe.ladder_steps(2e-7, -1) == [1e-7]  # never below the range
    assert probe.ladder_steps(1.0, +1) == []


def _fake_validation_curve(monkeypatch, best_C):
    """Each draw's validation error is lowest at ``best_C`` and rises with |log10 C - log10 best_C|;
    test accuracy mirrors it: the grid logic is tested on a curve whose optimum is known."""

    def fit_draw(p, per_class, fit_with_state, draw_seed, Cs, scratch):
        err = [0.3 + 0.01 * abs(np.log10(c) - np.log10(best_C)) + 1e-4 * draw_seed for c in Cs]
        return {
            "val_acc": [1 - e for e in err],
            "test_acc": [1 - e for e in err],
            "objective": [float(c) for c in Cs],
        }

    monkeypatch.setattr(probe, "_fit_draw", fit_draw)


def test_the_grid_is_extended_past_an_edge_until_the_chosen_C_is_interior(
    svhn_root, tmp_path, monkeypatch
):
    _, netD = nets.build(tiny(), seed=0)
    # the shared-draw machinery; svhn-1000's fresh draws are tested below
    protocol = protocols.get(
        "svhn-1000", val_size=100, per_class=20, draws=2, test_draws=1, fresh_draws_per_C=False
    )
    kw = dict(data_root=svhn_root, cache_dir=tmp_path / "cache", progress=False, log=lambda m: None)
    _fake_validation_curve(monkeypatch, best_C=2e-6)
    out = probe.run(netD, protocol, **kw)
    # the paper's grid, then one decade below at a time until 2e-6 has a neighbour on each side
    assert out["grid"] == [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5] + list(svm.PAPER_GRID)
    assert (
        out["C"] == 2e-6
        and out["C_interior"] is True
        and "extended by 1-2-5 steps" in out["grid_rule"]
    )
    assert len(out["val_error_pct_per_C"]) == len(out["grid"])
    # upward too, and never past the range: an optimum beyond it is chosen on the edge and said so
    _fake_validation_curve(monkeypatch, best_C=50.0)
    up = probe.run(netD, protocol, **{**kw, "cache_dir": tmp_path / "cache2"})
    assert up["grid"][-1] == 1.0 and up["C"] == 1.0 and up["C_interior"] is False
    # the paper's 7 values exactly, as given: no extension
    fixed = probe.run(
        netD, protocol, grid=list(svm.PAPER_GRID), **{**kw, "cache_dir": tmp_path / "cache3"}
    )
    assert (
        fixed["grid"] == list(svm.PAPER_GRID)
        and fixed["C"] == 1e-2
        and fixed["C_interior"] is False
    )
    _fake_validation_curve(monkeypatch, best_C=2e-6)
    edge = probe.run(
        netD, protocol, grid=list(svm.PAPER_GRID), **{**kw, "cache_dir": tmp_path / "cache4"}
    )
    assert (
        edge["C"] == 1e-4
        and edge["C_interior"] is False
        and edge["grid_rule"] == "fixed (not extended)"
    )


def test_dcgan_features_by_default_are_the_features_the_probe_fits(shared_data, tmp_path, capsys):
    _, netD = nets.build(tiny(), seed=0)
    from dcgan import checkpoint

    state = {
        "variant": tiny().to_dict(),
        "netG": nets.build(tiny(), seed=0)[0].state_dict(),
        "netD": netD.state_dict(),
        "step": 0,
        "bn_stats": "running",
    }
    checkpoint.save(state, tmp_path / "ckpt-00000000.pt")
    prepared = prepare.prepare(
        netD, protocols.get("cifar10-400"), shared_data, "cpu", tmp_path / "cache", False, False
    )
    out = tmp_path / "test.npy"
    assert (
        cli.main(
            argv(
                "features --ckpt {} --dataset cifar10 --split test --data-root {} --out {}"
                " --cache-dir {} --no-progress",
                tmp_path / "ckpt-00000000.pt",
                shared_data,
                out,
                tmp_path / "other-cache",
            )
        )
        == 0
    )
    np.testing.assert_array_equal(np.load(out), prepared.f_test)
    assert "pool:cifar10/train-pool(seed=42,val=10000)" in capsys.readouterr().err


def test_svhn_1000_draws_fresh_images_for_every_C_as_the_authors_script(
    svhn_root, tmp_path, monkeypatch
):
    seen = []
    original = probe._fit_draw

    def recording(p, per_class, fit_with_state, draw_seed, Cs, scratch):
        seen.append((draw_seed, tuple(Cs)))
        return original(p, per_class, fit_with_state, draw_seed, Cs, scratch)

    monkeypatch.setattr(probe, "_fit_draw", recording)
    _, netD = nets.build(tiny(), seed=0)
    protocol = protocols.get("svhn-1000", val_size=100, per_class=10, draws=2, test_draws=1)
    assert protocol.fresh_draws_per_C and not protocols.get("cifar10-400").fresh_draws_per_C
    out = probe.run(netD, protocol, **_quietly(svhn_root, tmp_path / "c"))
    selection = [(s, c) for s, c in seen if s < 1000 or s >= 100_000]
    assert len(selection) == 4 and all(len(c) == 1 for _, c in selection)  # one fit per C and draw
    assert len({s for s, _ in selection}) == 4  # every C its own draws
    assert "fresh draws for every C" in out["draw_seeds"]
