"""The main job (`tox -e bench`). For now, one suite: `quick` trains a small variant offline,
probes its discriminator beside a random-init control (reduced draws), computes KID on a small
sample where the standard Inception weights are present (and says so where they are not),
runs the memorisation check, and says where its outputs are. Throughput and the report join
it as they land.

Data: the real CIFAR-10 under $DCGAN_DATA_ROOT when it is there (tox points it at
../shared/data), else the built-in digits, so a fresh machine with no network runs it too.
A finished run is reused and an interrupted one resumes (`dcgan train --resume`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

from dcgan import checkpoint, data, fidelity, probe, results, variants
from dcgan.errors import UserError
from dcgan.train import TrainConfig, train

SUITES = {
    # name: (variant, overrides, steps)
    "quick": ("dcgan32", {"ngf": 32, "ndf": 32}, 400),
}
# The probe each dataset gets in the quick suite, at reduced draws (the paper's are 10 and 10).
QUICK_PROBE = {"cifar10": ("cifar10-400", 2, 2), "digits": ("digits-50", 3, 3)}
QUICK_KID_N = 500  # torch-fidelity's Inception runs at ~7 images/s on 2 CPU cores: KID on a small sample
QUICK_MEMORISATION_N = 1000


def pick_dataset() -> tuple[str, str | None]:
    root = data.resolve_root(None)
    if root is not None and (root / "cifar10_train.npz").exists():
        return "cifar10", str(root)
    return "digits", None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="quick", choices=sorted(SUITES))
    p.add_argument("--steps", type=int, help="override the suite's step count")
    p.add_argument("--runs", default="runs/bench", help="where runs are written (reused and resumed)")
    p.add_argument("--results", default="results/quick", help="where the tables' rows are written (appended)")
    args = p.parse_args(argv)
    name, overrides, steps = SUITES[args.suite]
    dataset, root = pick_dataset()
    steps = args.steps or steps
    v = variants.get(name, **overrides)
    out = Path(args.runs) / f"{args.suite}-{v.name}-ngf{v.ngf}-{dataset}"
    try:
        cfg = TrainConfig(v, out, steps=steps, dataset=dataset, data_root=root, ckpt_every=100, resume=True)
        last = checkpoint.latest(out)
        if last is not None and checkpoint.load(last)["step"] >= steps:
            print(f"{out}: already trained to {steps} steps; reusing it", file=sys.stderr)
            result = {"run_dir": str(out), "checkpoint": str(last), "reused": True}
        else:
            result = train(cfg)
    except UserError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    step = checkpoint.load(result["checkpoint"])["step"]
    print(json.dumps(result, default=str))

    # probe the trained D and its random-init control the same way
    name, draws, test_draws = QUICK_PROBE[dataset]
    protocol = probe.get(name, draws=draws, test_draws=test_draws)
    v, _, netD, _ = checkpoint.load_models(result["checkpoint"])
    try:
        rows = probe.run_with_control(v, netD, protocol, label=f"{out.name} step {step}", data_root=root,
                                      log=lambda m: print(m, file=sys.stderr))
    except UserError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    for row in rows:
        row["suite"] = args.suite
    json_path, csv_path = probe.write_rows(rows, args.results)
    print(probe.table(rows).to_string(index=False), file=sys.stderr)
    kid_line = quick_kid(result["checkpoint"], dataset, root, args.results)
    memo_line = quick_memorisation(result["checkpoint"], dataset, root, args.results)
    trained, control = rows[0]["value"], rows[1]["value"]
    print(f"\nquick suite: {v.name} (ngf=ndf={v.ngf}) on {dataset}, {step} steps", file=sys.stderr)
    print(f"  probe      : {name} ({draws} draws for C, {test_draws} test draws): trained D {trained:.2f}% vs random-init "
          f"control {control:.2f}% ({trained - control:+.2f} points)", file=sys.stderr)
    print(f"  generative : {kid_line}", file=sys.stderr)
    print(f"  memorised? : {memo_line}", file=sys.stderr)
    print(f"  run folder : {out}", file=sys.stderr)
    print(f"  samples    : {out / f'samples-{step:08d}.png'}", file=sys.stderr)
    print(f"  loss log   : {out / 'log.csv'}", file=sys.stderr)
    print(f"  probe rows : {json_path} and {csv_path}", file=sys.stderr)
    return 0


def quick_kid(ckpt: str, dataset: str, root: str | None, out_dir: str) -> str:
    """KID of QUICK_KID_N samples against as many training images, with the standard Inception
    only; where it is missing, a row that says so (never a number from other weights)."""
    v, netG, _, _ = checkpoint.load_models(ckpt)
    common = {"time": results.now(), "variant": v.name, "checkpoint": ckpt, "reference": f"{dataset}/train", "git_revision": results.git_revision()}
    try:
        weights = fidelity.resolve_weights()
    except UserError as e:
        row = {**common, "metric": "KID", "value": None, "std": None, "note": f"not computed: {e}"}
        results.write_rows([row], out_dir, "fidelity", "fidelity-rows.csv", fidelity.ROW_FIELDS + ["note"])
        return f"KID not computed: the standard Inception weights are missing ({fidelity.hub_path()})"
    reference = data.subset(data.load(dataset, "train", root), QUICK_KID_N, seed=0)
    result = fidelity.compute(netG, v, reference, QUICK_KID_N, weights, metrics=("kid",), kid_subset_size=QUICK_KID_N // 5)
    rows = fidelity.rows(result, common)
    results.write_rows(rows, out_dir, "fidelity", "fidelity-rows.csv", fidelity.ROW_FIELDS + ["note"])
    r = rows[0]
    return f"{r['metric']} {r['value']:.4f} +- {r['std']:.4f} ({QUICK_KID_N} samples vs {QUICK_KID_N} training images)"


def quick_memorisation(ckpt: str, dataset: str, root: str | None, out_dir: str) -> str:
    """The memorisation check through the command itself, its rows and closest pairs in out_dir."""
    from dcgan import cli

    args = ["memorisation", "--ckpt", ckpt, "--dataset", dataset, "--n", str(QUICK_MEMORISATION_N), "--n-held-out",
            str(QUICK_MEMORISATION_N), "--out-dir", out_dir, "--no-progress", "--json"] + (["--data-root", root] if root else [])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(args)
    if code != 0:
        return "memorisation check failed (see the error above)"
    row = json.loads(buf.getvalue())["row"]
    return (f"nearest training image, pixels RMS: samples median {row['pixels_generated_q0.5']:.1f} vs held-out {row['pixels_held_out_q0.5']:.1f}; "
            f"D features cosine: {row['features_generated_q0.5']:.4f} vs {row['features_held_out_q0.5']:.4f}; "
            f"{row['pixels_n_generated_exact_copies']} exact copies; pairs in {row['pixels_closest_pairs_png']}")


if __name__ == "__main__":
    sys.exit(main())
