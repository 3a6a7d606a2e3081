"""The main job (`tox -e bench`). For now, one suite: `quick` trains a small variant offline
and says where its outputs are. The probe, fidelity and throughput suites join it as they land.

Data: the real CIFAR-10 under $DCGAN_DATA_ROOT when it is there (tox points it at
../shared/data), else the built-in digits, so a fresh machine with no network runs it too.
A finished run is reused and an interrupted one resumes (`dcgan train --resume`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dcgan import checkpoint, data, variants
from dcgan.errors import UserError
from dcgan.train import TrainConfig, train

SUITES = {
    # name: (variant, overrides, steps)
    "quick": ("dcgan32", {"ngf": 32, "ndf": 32}, 400),
}


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
    print(f"\nquick suite: {v.name} (ngf=ndf={v.ngf}) on {dataset}, {step} steps", file=sys.stderr)
    print(f"  run folder : {out}", file=sys.stderr)
    print(f"  samples    : {out / f'samples-{step:08d}.png'}", file=sys.stderr)
    print(f"  loss log   : {out / 'log.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
