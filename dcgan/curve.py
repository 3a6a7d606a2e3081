"""The probe curve: how good D's features are at each point of a run.

No peer harness shows *when* a GAN's discriminator features become useful. This probes a run's
checkpoints with one declared, cheap setting and writes one row per checkpoint:

- step 0 is the run's own initial weights (``nets.build(variant, seed=run seed)``, exactly what
  the trainer started from), so the random-init control is the curve's first point;
- each point is ``probe.single_draw``: the protocol's first class-balanced draw (400 per class
  for ``cifar10-400``) fitted at one fixed C and scored on the whole test split, with the
  paper's features (BN population statistics of the labelled pool, every conv layer max-pooled
  to 4x4). No C is chosen per point, so a point is not the protocol's figure, and the points
  of one curve are comparable with each other: same draw, same C, same test images.

Why a fixed C and one draw: the protocol's own figure fits 10 draws x 7 C plus 10 test draws;
one fit per checkpoint costs a seventieth of that, and the draw-to-draw spread of cifar10-400 is
about 0.4 points, small beside the changes training makes.
"""

from __future__ import annotations

from pathlib import Path

from . import checkpoint, events, nets, protocols, results, runtime, variants
from .errors import UserError, check_writable_dir
from .probing import probe
from .reporting import plots

# The curve's fixed C per protocol, declared here and written into every row. cifar10-400's is
# inside the range its validation error chose for dcgan32 checkpoints and their random-init
# controls in this harness (2e-4 to 1e-3 on the paper's grid).
CURVE_C = {
    "cifar10-400": 5e-4,
    "digits-50": 1e-3,
    "digits-10": 1e-3,
    "svhn-1000": 1e-3,
    "cifar10-full": 1e-4,
}

ROW_FIELDS = [
    "time",
    "run_dir",
    "variant",
    "step",
    "images_seen",
    "weights",
    "protocol",
    "C",
    "draw_seed",
    "per_class",
    "test_accuracy_pct",
    "val_accuracy_pct",
    "feature_dim",
    "bn_stats",
    "solver",
    "n_test",
    "checkpoint",
    "dcgan_bench",
    "git_revision",
    "seconds_features",
    "seconds_svm",
]


def curve_steps(total: int, points: int = 5) -> tuple[int, ...]:
    """Checkpoint steps for a curve over a run of ``total`` steps: halving back from the end
    (total, total/2, total/4, ...), where features change fastest early on."""
    if total < 1 or points < 1:
        raise UserError(
            f"a probe curve needs a positive number of steps and points; got {total} steps,"
            f" {points} points"
        )
    return tuple(sorted({max(1, round(total / 2**k)) for k in range(points)}))


def _run_state(run_dir: Path) -> tuple[variants.Variant, int, list[tuple[int, Path]]]:
    found = checkpoint.list_checkpoints(run_dir)
    if not run_dir.is_dir() or not found:
        raise UserError(
            f"{run_dir} is not a run folder with ckpt-*.pt checkpoints; give the --out folder of a"
            " `dcgan train` run"
        )
    state = checkpoint.load(found[-1][1])
    if "seed" not in state:  # imported weights: no run, no initial weights to start the curve from
        raise UserError(
            f"{found[-1][1]} is not from a training run (no seed); a probe curve needs a run"
            " folder of `dcgan train`"
        )
    return variants.from_dict(state["variant"]), int(state["seed"]), found


def run(
    run_dir,
    protocol: str | protocols.Protocol = "cifar10-400",
    C: float | None = None,
    steps=None,
    draw_seed: int = 0,
    data_root=None,
    device="cpu",
    cache_dir=None,
    progress: bool = True,
    log=print,
) -> list[dict]:
    """One row per point: step 0 (the run's initial weights) and each checkpoint of ``steps``
    (default: every checkpoint in the folder). ``protocol``: a name, or a Protocol with other
    sizes."""
    run_dir = Path(run_dir)
    proto = protocol if isinstance(protocol, protocols.Protocol) else protocols.get(protocol)
    C = CURVE_C.get(proto.name, 5e-4) if C is None else float(C)
    if not C > 0:
        raise UserError(f"the curve's C must be positive; got {C}")
    v, seed, found = _run_state(run_dir)
    by_step = dict(found)
    wanted = sorted(set(by_step) if steps is None else {int(s) for s in steps} - {0})
    missing = [s for s in wanted if s not in by_step]
    if missing:
        raise UserError(
            f"{run_dir} has no checkpoint at step(s) {', '.join(map(str, missing))}; it has "
            f"{', '.join(map(str, by_step))} (train with --keep-steps to keep a curve's"
            " checkpoints)"
        )
    common = {**runtime.provenance(), "run_dir": str(run_dir), "variant": v.name}
    rows = []
    for step in [0] + wanted:
        if step == 0:
            _, netD = nets.build(v, seed=seed)
            weights, ckpt = f"random init (the run's initial weights, seed {seed})", ""
        else:
            _, _, netD, _ = checkpoint.load_models(by_step[step], device)
            weights, ckpt = f"step {step}", str(by_step[step])
        log(f"probe curve: {run_dir.name} {weights}")
        out = probe.single_draw(
            netD,
            proto,
            C,
            draw_seed,
            data_root=data_root,
            device=device,
            cache_dir=cache_dir,
            progress=progress,
            log=log,
        )
        rows.append(
            {
                **common,
                "time": results.now(),
                "step": step,
                "images_seen": step * v.batch_size,
                "weights": weights,
                "checkpoint": ckpt,
                **out,
            }
        )
        log(f"  test accuracy {out['test_accuracy_pct']:.2f}% (C = {C:g}, draw {draw_seed})")
    # the curve beside the run's training curves in TensorBoard
    events.add_points(
        run_dir,
        f"probe/{proto.name}_curve_test_accuracy",
        {r["step"]: r["test_accuracy_pct"] for r in rows},
    )
    return rows


def write_rows(rows: list[dict], out_dir) -> tuple[Path, Path]:
    return results.write_rows(rows, out_dir, "probe-curve", "probe-curve-rows.csv", ROW_FIELDS)


def probe_run(run_dir, out_dir="results/probe", **kw) -> dict:
    """The `dcgan probe-curve` command's work: ``run`` (same arguments), its rows written to
    ``out_dir`` with a plot of accuracy against step beside them."""
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")
    rows = run(run_dir, **kw)
    json_path, csv_path = write_rows(rows, out_dir)
    png = plots.curve_plot(rows, json_path.with_suffix(".png"))
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path), "plot": str(png)}
