import dataclasses
import json
import shutil

import pandas as pd
import pytest

from bench import cell_context, cell_graph, run, runners, suites
from dcgan.errors import UserError

from .conftest import TINY_MODEL, argv


def tiny_suite():
    return suites.Suite(
        "tiny",
        "a test suite",
        variants=(("dcgan32", (("ngf", 8), ("ndf", 8), ("batch_size", 32))),),
        datasets=("digits",),
        seeds=(0, 1),
        protocols=(("digits-50", 1, 1),),
        steps={"digits": 20},
        throughput_stages=("sample",),
        figures=True,
    )


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setitem(suites.SUITES, "tiny", tiny_suite)
    calls = {}
    for kind, fn in list(runners.RUNNERS.items()):

        def counted(ctx, c, fn=fn, kind=kind):
            calls[kind] = calls.get(kind, 0) + 1
            return fn(ctx, c)

        monkeypatch.setitem(runners.RUNNERS, kind, counted)
    args = argv("--suite tiny --runs {} --results {}", tmp_path / "runs", tmp_path / "results")
    return args, calls


def test_the_matrix_expands_with_dependencies_first_and_every_declared_suite_expands():
    cells = cell_graph.cells(tiny_suite())
    kinds = [c.kind for c in cells]
    assert kinds == argv("train probe curve figures train probe curve figures control throughput")
    # the curve's checkpoints are kept by its training cell, and probed on the suite's
    # first protocol
    train, curve = cells[0], cells[2]
    assert dict(train.settings)["keep_steps"] == dict(curve.settings)["points"] == (1, 2, 5, 10, 20)
    assert curve.protocol[0] == "digits-50"
    assert len({c.id for c in cells}) == len(cells)
    for make in suites.SUITES.values():
        assert cell_graph.cells(make())
    # Table 1 and Table 2 each get their model: imagenet32 on ImageNet only, svhn32 on SVHN only
    paper = {(c.variant, c.dataset) for c in cell_graph.cells(suites.paper()) if c.kind == "train"}
    assert paper == {("imagenet32", "imagenet32"), ("svhn32", "svhn")}


def test_an_interrupted_training_stops_the_suite_and_is_never_measured(
    tiny, monkeypatch, tmp_path, capsys
):
    """A signal during training stops the suite (the trainer keeps its checkpoint); no cell
    measures that partial run, now or on the next run, until its training has finished."""
    args, calls = tiny
    original = runners.RUNNERS["train"]

    def interrupted(ctx, c):
        from dcgan.training.config import TrainConfig, TrainingStopped
        from dcgan.training.loop import train

        v, out, keep = c.variant_obj(), ctx.run_dir(c), dict(c.settings)["keep_steps"]
        cfg = TrainConfig(v, out, steps=5, dataset=c.dataset, seed=c.seed, keep_steps=keep)
        train(dataclasses.replace(cfg, progress=False))
        raise TrainingStopped("SIGINT at step 5: kept; continue with --resume", exit_code=130)

    monkeypatch.setitem(runners.RUNNERS, "train", interrupted)
    assert run.main(args) == 130
    assert not calls  # no cell after the interrupted training ran (each kind counts its calls)
    assert "stopped: SIGINT at step 5" in capsys.readouterr().err
    # a cell that needs the run refuses its 5 of 20 steps, and is not recorded as finished
    probe = next(c for c in cell_graph.cells(tiny_suite()) if c.kind == "probe")
    ctx = runners.Context(tiny_suite(), tmp_path / "runs" / "tiny", tmp_path / "results" / "tiny")
    for kind in ("probe", "curve"):
        cell = next(c for c in cell_graph.cells(tiny_suite()) if c.kind == kind)
        with pytest.raises(UserError, match="stops at step 5 of 20: its train cell has not"):
            runners.run_cell(ctx, cell)
        assert not ctx.cell_file(cell).exists()
    # the next run resumes the training to its 20 steps, and only then measures it
    monkeypatch.setitem(runners.RUNNERS, "train", original)
    calls.clear()
    assert run.main(args) == 0
    record = json.loads(ctx.cell_file(probe).read_text())
    assert record["rows"][0]["checkpoint"].endswith("ckpt-00000020.pt")


def test_a_changed_setting_is_a_new_cell():
    a = suites.Cell("train", "dcgan32", dataset="digits", seed=0, settings=(("steps", 20),))
    b = suites.Cell("train", "dcgan32", dataset="digits", seed=0, settings=(("steps", 30),))
    assert a.id != b.id and a.id.startswith("train/dcgan32/digits/seed0/")


def test_only_selects_cells_and_the_training_they_need():
    cells = cell_graph.cells(tiny_suite())
    chosen = cell_graph.select(cells, ["kind=probe", "seed=1"])
    assert [(c.kind, c.seed) for c in chosen] == [
        ("train", 0),
        ("probe", 0),
        ("train", 1),
        ("probe", 1),
        ("curve", 1),
        ("figures", 1),
    ]
    assert [c.kind for c in cell_graph.select(cells, ["throughput"])] == ["throughput"]
    # "+" joins conditions that must all hold: seed 1's probe alone (and its training)
    assert [(c.kind, c.seed) for c in cell_graph.select(cells, ["kind=probe+seed=1"])] == [
        ("train", 1),
        ("probe", 1),
    ]
    with pytest.raises(UserError, match="matches no cell"):
        cell_graph.select(cells, ["kind=nothing"])
    with pytest.raises(UserError, match="unknown key 'colour'"):
        cell_graph.select(cells, ["colour=red"])


def test_only_takes_a_cell_id_with_its_overrides_commas_and_all():
    cells = cell_graph.cells(tiny_suite())
    probe = next(c for c in cells if c.kind == "probe" and c.seed == 1)
    # "probe/dcgan32[ngf=8,ndf=8,batch_size=32]/digits/seed1/digits-50", without the hash
    prefix = probe.id.rsplit("/", 1)[0]
    assert "[ngf=8,ndf=8,batch_size=32]" in prefix
    tokens = cell_graph.only_tokens(f"{prefix}, kind=throughput")
    assert tokens == [prefix, "kind=throughput"]
    chosen = cell_graph.select(cells, tokens)
    assert [(c.kind, c.seed) for c in chosen] == [("train", 1), ("probe", 1), ("throughput", None)]


def test_a_killed_suite_resumes_without_recomputing_finished_cells(
    tiny, monkeypatch, tmp_path, capsys
):
    args, calls = tiny
    original = runners.RUNNERS["probe"]

    def killed(ctx, c):
        if c.seed == 1:
            raise KeyboardInterrupt  # as if the process were stopped in the middle of this cell
        return original(ctx, c)

    monkeypatch.setitem(runners.RUNNERS, "probe", killed)
    # Ctrl-C stops the whole suite in one line, with the shell's code for SIGINT
    assert run.main(args) == 130
    err = capsys.readouterr().err
    assert "bench: interrupted in probe/" in err and "the same command resumes" in err
    # the second probe was killed before it finished
    assert calls == {
        "train": 2,
        "probe": 1,
        "curve": 1,
        "figures": 1,
    }
    finished = sorted(p.name for p in (tmp_path / "runs" / "tiny" / "cells").iterdir())
    # both trainings, the first probe, curve and figures
    assert len(finished) == 5 and not any(".tmp" in n for n in finished)

    monkeypatch.setitem(runners.RUNNERS, "probe", original)
    calls.clear()
    assert run.main(args) == 0
    # only what had not finished
    assert calls == {
        "probe": 1,
        "curve": 1,
        "figures": 1,
        "control": 1,
        "throughput": 1,
    }
    report = tmp_path / "results" / "tiny" / "report-current"
    page = (report / "report.html").read_text()
    assert "Table 1" not in page  # no paper table for digits
    assert "latent walk: dcgan32" in page and "numbered sample sheet: dcgan32" in page
    assert page.count("data:image/png") == 8  # probe curve, loss curves, 2 x (samples, walk, sheet)
    # the report opens with each trained D against its control: gap and paired test
    md = (report / "report.md").read_text()
    assert (
        md.index("random-init control") < md.index("## ")
        and "paired t-test over 1 shared draws" not in md
    )
    assert md.count("gap ") == 2 and "Probe curve" in md
    # each probe cell's figure is in its run's TensorBoard events, at the run's final step
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dirs = sorted((tmp_path / "runs" / "tiny").glob("dcgan32*-seed*"))
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        acc = EventAccumulator(str(run_dir))
        acc.Reload()
        assert [e.step for e in acc.Scalars("probe/digits-50")] == [20], run_dir

    calls.clear()
    (report / "stale.txt").write_text("from the run before")
    # everything finished: nothing recomputed, a new report in its place
    assert run.main(args) == 0 and calls == {}
    assert (report / "report.html").exists() and not (report / "stale.txt").exists()
    assert [p.name for p in (tmp_path / "results" / "tiny").iterdir() if "report" in p.name] == [
        "report-current"
    ]
    rows = json.loads(
        next((tmp_path / "runs" / "tiny" / "cells").glob("probe*seed1*")).read_text()
    )["rows"]
    measured = [r for r in rows if r["source"] == "measured"]
    assert (
        measured[0]["seed"] == 1
        and measured[0]["suite"] == "tiny"
        and measured[0]["train_dataset"] == "digits"
    )

    # another machine with the committed results/ but not runs/: a run of one cell there keeps
    # the report whole, reading the other cells' rows back, and appends only its own rows
    shutil.rmtree(tmp_path / "runs")
    probe_csv = tmp_path / "results" / "tiny" / "probe-rows.csv"
    before = probe_csv.read_text()
    calls.clear()
    assert run.main(args + ["--only", "kind=throughput"]) == 0 and calls == {"throughput": 1}
    assert probe_csv.read_text() == before
    md = (report / "report.md").read_text()
    assert md.count("gap ") == 2 and "Probe curve" in md
    assert "5 of these cells finished where this machine has no record of them" in md
    assert "numbered sample sheet" not in md  # the pictures stayed with the runs
    # listed as "in results": measured again only where chosen
    capsys.readouterr()
    assert run.main(args + ["--list"]) == 0
    states = [line[:10].strip() for line in capsys.readouterr().out.splitlines()]
    assert states.count("in results") == 5 and states.count("finished") == 1


def test_earlier_records_pass_over_what_they_cannot_trust(tmp_path):
    ctx = runners.Context(tiny_suite(), tmp_path / "runs", tmp_path / "results")
    cells = cell_graph.cells(tiny_suite())
    probe, control = (next(c for c in cells if c.kind == k) for k in ("probe", "control"))
    ctx.results.mkdir(parents=True)

    def put(name, rows):
        (ctx.results / name).write_text(json.dumps(rows))

    put("probe-digits-50-20261201-000000.json", [{"cell": probe.id, "value": 1.0}])
    put("probe-digits-50-20261202-000000.json", [{"cell": probe.id, "value": 2.0}, {"q": 0}])
    put("probe-digits-50-20261202-000000-2.json", [{"cell": control.id, "value": 3.0}])
    put("probe-digits-50-20261203-000000.json", [{"cell": probe.id}, {"cell": control.id}])
    put("probe-digits-50-20261204-000000.json", [{"cell": "probe/not-this-suite/1", "value": 4}])
    (ctx.results / "probe-digits-50-20261205-000000.json").write_text('[{"cell": "torn')
    put("benchmarks-20261206-000000.json", {"benchmarks": []})
    found = runners.earlier_records(ctx, cells)
    assert set(found) == {probe.id, control.id}
    # the newest file per cell, with every row of it (the paper's quoted rows name no cell)
    assert found[probe.id]["rows"] == [{"cell": probe.id, "value": 2.0}, {"q": 0}]
    assert found[control.id]["restored_from"] == "probe-digits-50-20261202-000000-2.json"


def test_list_shows_what_has_finished(tiny, capsys):
    args, _ = tiny
    assert run.main(args + ["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and all(line.startswith("to run") for line in lines)


def test_compare_runs_the_candidate_beside_the_baseline_and_a_planted_no_change_passes(
    monkeypatch, tmp_path, capsys
):
    model = ("dcgan32", (("ngf", 8), ("ndf", 8), ("batch_size", 32)))

    def tiny_quick(candidate=None):
        s = tiny_suite()
        return suites.Suite(
            "quick",
            s.description,
            variants=(model,) + ((candidate,) if candidate else ()),
            datasets=s.datasets,
            seeds=(0,),
            protocols=(("digits-50", 2, 2),),
            steps=s.steps,
        )

    monkeypatch.setattr(suites, "QUICK_MODEL", model)
    monkeypatch.setattr(suites, "quick", tiny_quick)
    args = argv(
        "--runs {} --results {} --compare --candidate dcgan32",
        tmp_path / "runs",
        tmp_path / "results",
    )
    # the candidate sets lr to its default: the same training, so every measurement must agree
    summary = tmp_path / "compare-summary.md"
    assert run.main(args + ["--candidate-set", "lr=0.0002", "--summary", str(summary)]) == 0
    out = capsys.readouterr()
    assert "0 gated regression(s) among 2 shared measurements" in out.err
    assert out.out.count("no change (within band)") == 2
    assert summary.read_text().startswith(
        "## tox -e compare: dcgan32[ngf=8,ndf=8,batch_size=32,lr=0.0002] against the baseline:"
        " no gated regression among 2 shared measurements"
    )
    folder = next((tmp_path / "results" / "quick").glob("compare-*"))
    assert {p.name for p in folder.iterdir()} == {"base.json", "new.json"}
    # the candidate must differ from the baseline, and the flags belong to the quick suite
    assert run.main(args) == 1 and "the candidate is the baseline itself" in capsys.readouterr().err
    assert run.main(["--suite", "paper", "--compare"]) == 1


def test_the_memorisation_cells_csv_row_carries_the_suites_columns(tmp_path):
    import pandas as pd

    from dcgan import cli

    ctx = runners.Context(tiny_suite(), tmp_path / "runs", tmp_path / "results", log=lambda m: None)
    c = suites.Cell(
        "memorisation",
        "dcgan32",
        (("ngf", 8), ("ndf", 8), ("batch_size", 32)),
        "digits",
        1,
        settings=(("steps", 4), ("n", 40)),
    )
    assert (
        cli.main(
            argv(
                "train {*} --no-progress --dataset digits --steps 4 --ckpt-every 4 --out {}",
                TINY_MODEL,
                ctx.run_dir(c),
            )
        )
        == 0
    )
    record = runners.run_memorisation(ctx, c)
    csv_row = pd.read_csv(tmp_path / "results" / "memorisation-rows.csv").iloc[0]
    for k in runners.SUITE_FIELDS:
        assert str(csv_row[k]) == str(record["rows"][0][k]), k
    assert csv_row["suite"] == "tiny" and csv_row["seed"] == 1 and csv_row["cell"] == c.id


def test_the_released_suite_probes_what_is_there_and_says_which_file_is_missing(
    monkeypatch, tmp_path, shared_data, capsys
):
    """Tables 1-2 from the authors' weights as one job: the complete SVHN model is imported and
    probed beside its control; the partial ImageNet model's cells name the missing shards and are
    tried again on the next run; the rest still runs."""

    def small_released():
        s = suites.released_suite()
        return suites.Suite(
            "released",
            s.description,
            variants=s.variants,
            datasets=(),
            seeds=(),
            protocols=(),
            steps={},
            data_root=None,
            released=tuple((folder, v, ("digits-50",)) for folder, v, _ in suites.RELEASED_MODELS),
        )

    monkeypatch.setitem(suites.SUITES, "released", small_released)
    args = argv(
        "--suite released --runs {} --results {} --released {}",
        tmp_path / "runs",
        tmp_path / "results",
        shared_data / "released",
    )
    assert run.main(args) == 0
    err = capsys.readouterr().err
    cells = {p.name for p in (tmp_path / "runs" / "released" / "cells").iterdir()}
    # the measured ones are kept; the missing ones retry
    assert len(cells) == 2 and all("svhn32" in n for n in cells)
    csv_rows = (tmp_path / "results" / "released" / "probe-rows.csv").read_text()
    assert (
        "authors' released weights (svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb)"
        in csv_rows
    )
    md = (tmp_path / "results" / "released" / "report-current" / "report.md").read_text()
    # the headline: trained against control
    assert "digits-50: svhn32 (the authors' training)" in md and "gap " in md
    records = [
        json.loads(p.read_text()) for p in (tmp_path / "runs" / "released" / "cells").iterdir()
    ]
    measured = [r for rec in records for r in rec["rows"] if r.get("source") == "measured"]
    assert measured and measured[0]["train_dataset"] == "the authors' (not trained here)"
    # the ImageNet model and its control name the missing shards; no row is appended for them
    assert err.count("not measured: ") == 2 and err.count("missing 30_gen_params.jl_01.npy") == 2
    assert "not measured" not in csv_rows and "imagenet32" not in csv_rows


def test_the_paper_suite_trains_on_the_papers_crops_where_it_can_and_says_so_where_not(tmp_path):
    assert suites.paper_imagenet(tmp_path) == "imagenet32"  # no raw ImageNet: the squashed batches
    (tmp_path / "train").mkdir()
    assert suites.paper_imagenet(tmp_path) == "imagenet"  # the raw tree: min-resized centre crops
    assert "not the paper's crops" in suites.train_recipe(
        "imagenet32"
    ) and "the paper's recipe" in suites.train_recipe("imagenet")
    ctx = runners.Context(
        suites.paper(), tmp_path / "runs", tmp_path / "results", log=lambda m: None
    )
    train = next(
        c for c in cell_graph.cells(ctx.suite) if c.kind == "train" and c.variant == "imagenet32"
    )
    row = cell_context.suite_columns(ctx, train)
    assert (
        row["train_data_recipe"].startswith("Imagenet32 (squashed, not the paper's crops)")
        and row["updates"] == "alternate"
    )
    assert "train_data_recipe" in runners.SUITE_FIELDS


def test_the_baselines_suite_measures_each_extractor_beside_its_anchor_and_resumes(
    tmp_path, capsys
):
    """The baselines suite at smoke scale: K-means, pixels and a random-init D through the same
    probe and draws, each a finished cell that a rerun reads back, in the report's baselines
    table; the full suite declares Table 1's protocols with the paper's draws."""
    full = suites.baselines()
    assert {c.protocol for c in cell_graph.cells(full)} >= {
        ("cifar10-full", None, None),
        ("cifar10-400", None, None),
    }
    assert {(c.kind, c.label) for c in cell_graph.cells(full)} == {
        ("baseline", "kmeans[K=1600]"),
        ("baseline", "kmeans[K=4000]"),
        ("baseline", "pixels"),
        ("baseline", "discriminator[variant=imagenet32]"),
    }
    args = argv(
        "--suite baselines --scale smoke --runs {} --results {}", tmp_path / "runs", tmp_path
    )
    assert run.main(args) == 0, capsys.readouterr().err
    table = tmp_path / "baselines-smoke" / "report-current" / "baselines.csv"
    df = pd.read_csv(table)
    assert set(df["model"]) == {
        "kmeans[K=16,patches=5000,iterations=5] (1-layer K-means, Coates, Lee & Ng 2011)",
        "pixels",
        "dcgan32 (random init (seed 0))",
    }, table.read_text()
    values = df["measured"].str.split(" ± ").str[0].astype(float)
    assert values.between(20, 100).all()  # ten digit classes: far above chance
    assert (df["test draws"] == 2).all()
    written = sorted((tmp_path / "baselines-smoke").glob("probe-*.json"))
    assert len(written) == 3
    assert run.main(args) == 0
    # every cell read back from its record: none measured again, no row appended
    assert sorted((tmp_path / "baselines-smoke").glob("probe-*.json")) == written


def test_list_into_a_reader_that_stops_ends_quietly(tmp_path):
    """`bench/run.py --list | head -1`: the reader closes the pipe; the listing stops without a
    traceback and exits 0."""
    import subprocess
    import sys

    from .conftest import REPO

    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "run.py"), "--suite", "choices", "--scale", "smoke"]
        + ["--list", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "res")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    proc.stdout.close()  # before the child has written a line: its first write finds no reader
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
