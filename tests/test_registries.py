""" "One entry per thing": a metric, a solver, a throughput stage, a loss, a D regulariser and an
auxiliary task are each added by one registration, and everything that lists or uses them (the
CLI's choices and help, compare's bands, the rows' names, the probe's fitter, the fit cache's
fingerprint, the variant's choices, the step's terms and their events) follows it. Each test adds
a throwaway entry and removes it again. (The throughput stage's test is in test_throughput.py.)"""

import dataclasses

import numpy as np
import pytest

from dcgan import cli, svm, variants
from dcgan.probing import probe
from dcgan.quality import fidelity, metrics
from dcgan.reporting import compare


@pytest.fixture
def toy_metric(monkeypatch):
    monkeypatch.setattr(metrics, "REGISTRY", dict(metrics.REGISTRY))
    return metrics.register(
        metrics.Metric(
            "toy",
            "a throwaway metric",
            (
                metrics.Measure(
                    "toy_value",
                    "toy_std",
                    "TOY",
                    "toy distance, non-standard weights (not TOY)",
                    metrics.Band(False, 0.5),
                ),
            ),
        )
    )


def test_a_metric_is_one_entry(toy_metric, tmp_path):
    parser = cli.build_parser()
    (tmp_path / "ckpt.pt").write_bytes(b"")  # --ckpt must exist; this test only parses
    args = parser.parse_args(
        ["fidelity", "--ckpt", str(tmp_path / "ckpt.pt"), "--dataset", "digits"]
    )
    assert args.metrics.split(",")[-1] == "toy"
    assert (
        "toy (a throwaway metric)"
        in parser._subparsers._group_actions[0].choices["fidelity"].format_help()
    )
    assert (
        compare.default_bands()["TOY"]
        == compare.default_bands()["toy distance, non-standard weights (not TOY)"]
    )
    result = {"raw": {"toy_value": 1.5, "toy_std": 0.1}, "settings": {"inception_standard": False}}
    assert fidelity.rows(result, {}) == [
        {
            "metric": "toy distance, non-standard weights (not TOY)",
            "value": 1.5,
            "std": 0.1,
            "inception_standard": False,
        }
    ]
    # a regression of the new metric beyond its band fails `dcgan compare`
    base = [
        {"metric": "TOY", "value": v, "reference": "r", "variant": "a", "seed": s}
        for s, v in enumerate((1.0, 1.1, 0.9))
    ]
    new = [{**r, "value": r["value"] + 5, "variant": "b"} for r in base]
    assert compare.failed(compare.compare(base, new))
    with pytest.raises(ValueError, match="registered twice"):
        metrics.register(toy_metric)


def test_a_solver_is_one_entry(monkeypatch):
    monkeypatch.setattr(svm, "SOLVERS", dict(svm.SOLVERS))
    calls = []

    def fit(X, y, Cs, device=None, log=None, state=None):
        calls.append(len(X))
        return svm.fit_ours(X, y, Cs)

    toy = svm.register_solver(svm.Solver("toy", fit, lambda: "toy-code-1", "a throwaway solver"))
    assert (
        cli.build_parser()
        .parse_args(
            ["probe", "--random-init", "dcgan32", "--protocol", "digits-50", "--solver", "toy"]
        )
        .solver
        == "toy"
    )
    X, y = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32), np.arange(40) % 2
    assert len(probe._fitter("toy", "cpu", print)(X, y, [1e-2], None)) == 1 and calls == [40]
    assert svm.code_fingerprint("toy") == "toy-code-1"
    with pytest.raises(ValueError, match="registered twice"):
        svm.register_solver(toy)


def test_every_registry_refuses_a_duplicate():
    from dcgan import data

    for register, entry in (
        (variants.register, variants.get("dcgan32")),
        (data.register, data.spec("digits")),
        (metrics.register, metrics.REGISTRY["fid"]),
        (svm.register_solver, svm.SOLVERS["ours"]),
    ):
        with pytest.raises(Exception, match="registered twice"):
            register(entry)


def test_a_variants_group_is_declared_where_it_is_registered(monkeypatch):
    """An ablation registered after every training choice (here by a test, as a user's module
    would) is in the ablations suite, not taken for a choice by its name or position."""
    import dataclasses

    from bench import suites

    monkeypatch.setattr(variants, "_REGISTRY", dict(variants._REGISTRY))
    monkeypatch.setattr(variants, "_GROUP", dict(variants._GROUP))
    late = dataclasses.replace(
        variants.get("dcgan32"),
        name="dcgan32-late",
        description="ablation: a throwaway",
        d_act="relu",
    )
    variants.register(late, group="ablation")
    assert variants.in_group("ablation")[-1] == "dcgan32-late"
    assert "dcgan32-late" not in variants.in_group("choice")
    assert ("dcgan32-late", ()) in suites.ablations().variants
    assert "dcgan32-late" not in [n for n, _ in suites.choices("smoke").variants]
    with pytest.raises(ValueError, match="unknown group 'ablations'"):
        variants.register(dataclasses.replace(late, name="dcgan32-typo"), group="ablations")


def test_a_loss_a_regulariser_and_a_task_are_one_entry_each(monkeypatch, tmp_path):
    """A throwaway loss (with an extra term of its own), D regulariser and auxiliary task, each
    one registration: a variant may name them, training runs their objective, each extra term
    is logged apart in the run's events, and what differentiates twice says so."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from dcgan import objectives

    for name in ("LOSSES", "REGULARISERS", "AUX_TASKS"):
        monkeypatch.setattr(objectives, name, dict(getattr(objectives, name)))
    for name, registry in (("loss", "LOSSES"), ("d_reg", "REGULARISERS"), ("d_aux", "AUX_TASKS")):
        monkeypatch.setitem(variants.REGISTERED, name, getattr(objectives, registry))
    seen = []

    def logit_size(netD, real, fake, noise):
        seen.append("logit_size")
        return netD(fake.detach()).pow(2).mean()

    size = objectives.Term("logit_size", logit_size, lambda v: 0.01)
    objectives.register_loss(
        objectives.Loss(
            "softplus-sum",
            lambda real, fake: (real.neg().exp().log1p() + fake.exp().log1p()).mean(),
            lambda fake: fake.neg().exp().log1p().mean(),
            d_terms=(size,),
        )
    )
    objectives.register_regulariser(objectives.Regulariser("r1-again", d_terms=(objectives.R1,)))
    objectives.register_aux_task(objectives.AuxTask("nothing-more"))
    v = variants.get("dcgan32", ngf=8, ndf=8, batch_size=32, loss="softplus-sum", d_reg="r1-again")
    v = dataclasses.replace(v, d_aux="nothing-more")
    assert v.double_backward  # the R1 term says it differentiates twice
    assert [t.name for t in objectives.d_terms(v)] == ["logit_size", "r1_penalty"]
    out = tmp_path / "run"
    code = cli.main(
        ["train", "--variant", "dcgan32"]
        + [
            w
            for k, x in v.to_dict().items()
            if k in ("ngf", "ndf", "batch_size", "loss", "d_reg", "d_aux")
            for w in ("--set", f"{k}={x}")
        ]
        + ["--steps", "4", "--log-every", "2", "--out", str(out), "--no-progress"]
    )
    assert code == 0 and seen
    acc = EventAccumulator(str(out), size_guidance={"scalars": 0})
    acc.Reload()
    for tag in ("train/logit_size", "train/r1_penalty"):
        assert [e.step for e in acc.Scalars(tag)] == [2, 4], tag
    with pytest.raises(Exception, match="loss='hinge-typo' is not one of"):
        variants.get("dcgan32", loss="hinge-typo")
    with pytest.raises(ValueError, match="registered twice"):
        objectives.register_loss(objectives.Loss("bce", lambda r, f: r, lambda f: f))
