"""TensorBoard events of a training run (dcgan/events.py), read back as TensorBoard reads them:
the training scalars and the sample grid, the settings, a resumed run continuing the same
curves without a step twice or backwards, the probe curve's points in the same run, and none
with --no-tensorboard."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dcgan import cli, curve

from .conftest import TINY_MODEL


def _events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _train(out, steps, *extra):
    code = cli.main(
        ["train", *TINY_MODEL, "--steps", str(steps), "--log-every", "5", "--ckpt-every", "10"]
        + ["--out", str(out), "--no-progress", *extra]
    )
    assert code == 0


def test_a_run_writes_its_curves_and_samples_and_a_resume_continues_them(tmp_path):
    run = tmp_path / "run"
    _train(run, 20)
    acc = _events(run)
    tags = acc.Tags()
    for tag in ("train/loss_d", "train/loss_g", "train/d_x", "lr/D", "lr/G", "speed/images_per_s"):
        assert tag in tags["scalars"], tags["scalars"]
        assert [e.step for e in acc.Scalars(tag)] == [5, 10, 15, 20]
    assert [e.step for e in acc.Images("samples/fixed_z")] == [10, 20]
    assert "run/settings/text_summary" in tags["tensors"]
    # the paper's objective has no extra term
    assert not [t for t in tags["scalars"] if "penalty" in t or "rotation" in t], tags["scalars"]
    assert acc.Scalars("lr/D")[0].value == pytest.approx(2e-4)
    # a crash after step 20's log rows but before its checkpoint: resume from step 10
    (run / "ckpt-00000020.pt").unlink()
    _train(run, 30, "--resume")
    acc = _events(run)
    for tag in ("train/loss_d", "train/d_g_z1"):
        steps = [e.step for e in acc.Scalars(tag)]
        assert steps == [5, 10, 15, 20, 25, 30], (tag, steps)  # once each, never backwards
    assert [e.step for e in acc.Images("samples/fixed_z")] == [10, 20, 30]
    # the probe curve's points land in the same run
    curve.run(run, "digits-50", C=1e-3, steps=[10, 30], progress=False, log=lambda m: None)
    points = _events(run).Scalars("probe/digits-50_curve_test_accuracy")
    assert [p.step for p in points] == [0, 10, 30] and all(0 <= p.value <= 100 for p in points)


def test_no_tensorboard_writes_no_events(tmp_path):
    _train(tmp_path / "run", 10, "--no-tensorboard")
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    "variant, terms",
    [
        ("dcgan32-wgan-gp", ["train/gradient_penalty"]),
        ("dcgan32-r1", ["train/r1_penalty"]),
        ("dcgan32-rotation", ["train/rotation_loss_d", "train/rotation_loss_g"]),
    ],
)
def test_an_objectives_extra_terms_have_curves_of_their_own(tmp_path, variant, terms):
    model = [variant if w == "dcgan32" else w for w in TINY_MODEL]
    code = cli.main(
        ["train", *model, "--steps", "10", "--log-every", "5", "--out", str(tmp_path / "run")]
        + ["--no-progress"]
    )
    assert code == 0
    acc = _events(tmp_path / "run")
    for tag in terms:
        values = [e.value for e in acc.Scalars(tag)]
        assert [e.step for e in acc.Scalars(tag)] == [5, 10]
        assert all(v >= 0 for v in values) and any(v > 0 for v in values), (tag, values)
    # log.csv keeps its columns whatever the objective
    header = (tmp_path / "run" / "log.csv").read_text().splitlines()[0]
    assert "penalty" not in header and "rotation" not in header
