"""The main job (`tox -e bench`). For now, one suite: `quick` trains a small variant offline,
probes its discriminator beside a random-init control (reduced draws), and says where its
outputs are. The fidelity and throughput suites join it as they land.

Data: the real CIFAR-10 under $DCGAN_DATA_ROOT when it is there (tox points it at
../shared/data), else the built-in digits, so a fresh machine with no network runs it too.
A finished run is reused and an interrupted one resumes (`dcgan train --resume`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dcgan import checkpoint, data, probe, variants
from dcgan.errors import UserError
from dcgan.train import TrainConfig, train

SUITES = {
    # name: (variant, overrides, steps)
    "quick": ("dcgan32", {"ngf": 32, "ndf": 32}, 400),
}
# The probe each dataset gets in the quick suite, at reduced draws (the paper's are 10 and 10).
QUICK_PROBE = {"cifar10": ("cifar10-400", 2, 2), "digits": ("digits-50", 3, 3)}


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
    trained, control = rows[0]["value"], rows[1]["value"]
    print(f"\nquick suite: {v.name} (ngf=ndf={v.ngf}) on {dataset}, {step} steps", file=sys.stderr)
    print(f"  probe      : {name} ({draws} draws for C, {test_draws} test draws): trained D {trained:.2f}% vs random-init "
          f"control {control:.2f}% ({trained - control:+.2f} points)", file=sys.stderr)
    print(f"  run folder : {out}", file=sys.stderr)
    print(f"  samples    : {out / f'samples-{step:08d}.png'}", file=sys.stderr)
    print(f"  loss log   : {out / 'log.csv'}", file=sys.stderr)
    print(f"  probe rows : {json_path} and {csv_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
