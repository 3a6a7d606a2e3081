"""The fault table: bad inputs a hostile but realistic user gives the CLI, one row each.

Every row runs `dcgan ...` (or the main job `bench/run.py`, or `bench/standin.py`) in a separate
Python process (one process for the whole table, so torch is imported once) and checks: the
exit code, a phrase the one-line message must contain, no traceback, and that the files the row
names are byte-for-byte unchanged. A new input a command takes gets a row here.
"""

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest

from .conftest import REPO, TINY_MODEL, argv

TINY = [*TINY_MODEL, "--no-progress"]


@dataclass
class Fault:
    name: str
    argv: list[str]  # "{tmp}" stands for the row's own folder, "{ckpt}" for a tiny trained run
    code: int  # 1: our one-line error; 2: argparse's
    phrase: str
    # files under {tmp} that must keep their bytes
    unchanged: list[str] = field(default_factory=list)
    setup: object = None  # a function of the row's folder, run first
    env: dict = field(default_factory=dict)  # environment of the row ("{tmp}" as in argv)
    absent: list[str] = field(default_factory=list)  # paths under {tmp} that must not exist after


def _user_log(tmp):
    (tmp / "out").mkdir()
    (tmp / "out" / "log.csv").write_text("step,notes\n1,my own training notes\n")


def _a_file(tmp):
    (tmp / "file").write_text("not a folder")


def _non_square_npz(tmp):
    np.savez(tmp / "train.npz", x=np.zeros((40, 32, 24, 3), np.uint8))


def _binary(tmp):
    (tmp / "rows.json").write_bytes(bytes(range(256)))


def _unlabelled_test_split(tmp):
    rng = np.random.default_rng(0)
    np.savez(
        tmp / "cifar10_train.npz",
        x=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8),
        y=np.arange(60) % 10,
    )
    # no labels
    np.savez(tmp / "cifar10_test.npz", x=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8))


def _wrong_inception(tmp):
    import torch

    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3)}, tmp / "inception.pth")


def _inception_like(tmp, change):
    """torch-fidelity's Inception-v3 state dict as stride-0 views (the right shapes in a few
    kilobytes), changed by ``change``."""
    import torch

    from dcgan.quality import inception_weights

    state = {
        k: torch.zeros(()).expand(shape)
        for k, shape in inception_weights.inception_shapes().items()
    }
    change(state)
    torch.save(state, tmp / "inception.pth")


def _inception_extra_key(tmp):
    _inception_like(tmp, lambda s: s.update({"aux.fc.weight": __import__("torch").zeros(2)}))


def _inception_missing_key(tmp):
    _inception_like(tmp, lambda s: s.pop("Mixed_6a.branch3x3.conv.weight"))


def _inception_misshapen(tmp):
    import torch

    _inception_like(
        tmp, lambda s: s.update({"Mixed_7a.branch3x3_2.conv.weight": torch.zeros(3, 3, 3, 3)})
    )


def _one_npz(tmp):
    rng = np.random.default_rng(0)
    np.savez(tmp / "one.npz", x=rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8))


def _unshared_rows(tmp):
    (tmp / "a.json").write_text(json.dumps([{"protocol": "p", "metric": "m", "value": 1.0}]))
    (tmp / "b.json").write_text(json.dumps([{"stage": "train", "items_per_s": 5.0}]))


# a lock held by the test process itself: the row's command runs in another process
_HELD = contextlib.ExitStack()


def _held_by_another(tmp):
    from dcgan import lock

    _HELD.enter_context(lock.hold(tmp / "run"))


def _inverted_box(tmp):
    (tmp / "boxes.json").write_text(json.dumps([{"sample": 0, "boxes": [[20, 20, 5, 5]]}]))


FAULTS = [
    Fault(
        "lr is nan",
        ["train", *TINY, "--set", "lr=nan", "--steps", "2", "--out", "{tmp}/run"],
        1,
        "lr=nan must be in (0, 1]",
    ),
    Fault(
        "lr is negative",
        ["train", *TINY, "--set", "lr=-1", "--steps", "2", "--out", "{tmp}/run"],
        1,
        "lr=-1.0 must be in (0, 1]",
    ),
    Fault(
        "beta1 is 2",
        ["train", *TINY, "--set", "beta1=2", "--steps", "2", "--out", "{tmp}/run"],
        1,
        "beta1=2.0 must be in [0, 1)",
    ),
    Fault(
        "lr is 1e8",
        ["train", *TINY, "--set", "lr=1e8", "--steps", "2", "--out", "{tmp}/run"],
        1,
        "lr=100000000.0 must be in (0, 1]",
    ),
    Fault(
        "ckpt-every 0",
        ["train", *TINY, "--ckpt-every", "0", "--steps", "2", "--out", "{tmp}/run"],
        2,
        "argument --ckpt-every: must be a whole number >= 1; got '0'",
    ),
    Fault(
        "log-every 0",
        ["train", *TINY, "--log-every", "0", "--steps", "2", "--out", "{tmp}/run"],
        2,
        "argument --log-every: must be a whole number >= 1",
    ),
    Fault(
        "sample-n 0",
        ["train", *TINY, "--sample-n", "0", "--steps", "2", "--out", "{tmp}/run"],
        2,
        "argument --sample-n: must be a whole number >= 1",
    ),
    Fault(
        "steps not a number",
        ["train", *TINY, "--steps", "x", "--out", "{tmp}/run"],
        2,
        "argument --steps: must be a whole number >= 1; got 'x'",
    ),
    Fault(
        "sheet-epochs 1,x",
        ["train", *TINY, "--sheet-epochs", "1,x", "--steps", "2", "--out", "{tmp}/run"],
        2,
        "argument --sheet-epochs: 'x' in '1,x': must be a whole number >= 1",
    ),
    Fault(
        "keep-steps 0",
        ["train", *TINY, "--keep-steps", "0", "--steps", "2", "--out", "{tmp}/run"],
        2,
        "argument --keep-steps: '0' in '0': must be a whole number >= 1",
    ),
    Fault(
        "device tpu9",
        ["train", *TINY, "--device", "tpu9", "--steps", "2", "--out", "{tmp}/run"],
        1,
        "unknown device 'tpu9'",
    ),
    Fault(
        "out holds a user's log.csv",
        ["train", *TINY, "--steps", "2", "--out", "{tmp}/out"],
        1,
        "is not empty (log.csv)",
        ["out/log.csv"],
        _user_log,
    ),
    Fault(
        "resume into a folder that is not a run",
        ["train", *TINY, "--steps", "2", "--out", "{tmp}/out", "--resume"],
        1,
        "holds no dcgan-bench run",
        ["out/log.csv"],
        _user_log,
    ),
    Fault(
        "out under a file",
        ["train", *TINY, "--steps", "2", "--out", "{tmp}/file/run"],
        2,
        "argument --out: {tmp}/file is a file where a folder belongs",
        ["file"],
        _a_file,
    ),
    Fault(
        "non-square npz",
        argv("train {*} --steps 2 --dataset npz --data-root {tmp} --out {tmp}/run", TINY),
        1,
        "images are 32x24; they must be square",
        ["train.npz"],
        _non_square_npz,
    ),
    Fault(
        "features batch-size 0",
        argv("features --ckpt {ckpt} --dataset digits --out {tmp}/f.npy --batch-size 0"),
        2,
        "argument --batch-size: must be a whole number >= 1",
    ),
    Fault(
        "memorisation n 0",
        ["memorisation", "--ckpt", "{ckpt}", "--dataset", "digits", "--n", "0"],
        2,
        "argument --n: must be a whole number in [1, 100000]",
    ),
    Fault(
        "throughput iters 0",
        ["throughput", "--variant", "dcgan32", "--iters", "0"],
        2,
        "argument --iters: must be a whole number >= 1",
    ),
    Fault(
        "throughput device tpu9",
        ["throughput", "--variant", "dcgan32", "--device", "tpu9", "--out-dir", "{tmp}/rows"],
        1,
        "unknown device 'tpu9'",
    ),
    Fault(
        "probe draws 0",
        ["probe", "--ckpt", "{ckpt}", "--protocol", "digits-50", "--draws", "0"],
        2,
        "argument --draws: must be a whole number >= 1",
    ),
    Fault(
        "probe grid negative",
        ["probe", "--ckpt", "{ckpt}", "--protocol", "digits-50", "--grid=-1,1e-3"],
        2,
        "argument --grid: '-1' in '-1,1e-3': must be a finite number in [1e-07, 1]",
    ),
    Fault(
        "probe features unknown",
        argv("probe --features sift --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "unknown extractor 'sift'; extractors: discriminator, kmeans, pixels",
    ),
    Fault(
        "probe features set unknown key",
        argv("probe --features kmeans --set k=400 --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "extractor 'kmeans' has no setting 'k'; settings: K, patches, iterations, seed",
    ),
    Fault(
        "probe features set K 0",
        argv("probe --features kmeans --set K=0 --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "--set K=0: kmeans's K must be at least 1",
    ),
    Fault(
        "probe features set K not a number",
        argv("probe --features kmeans --set K=many --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "--set K=many: kmeans's K takes a int",
    ),
    Fault(
        "probe features set without =",
        argv("probe --features kmeans --set K --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "--set 'K' is not KEY=VALUE",
    ),
    Fault(
        "probe set without features",
        ["probe", "--ckpt", "{ckpt}", "--set", "K=4", "--protocol", "digits-50"],
        1,
        "--set is for --features EXTRACTOR",
    ),
    Fault(
        "probe features with a checkpoint",
        ["probe", "--ckpt", "{ckpt}", "--features", "pixels", "--protocol", "digits-50"],
        1,
        "--features pixels probes its own features; --ckpt and --random-init choose",
    ),
    Fault(
        "probe features discriminator without weights",
        argv("probe --features discriminator --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "give --ckpt CKPT (or --random-init VARIANT for an untrained D)",
    ),
    Fault(
        "probe features user module missing",
        argv("probe --features no_such_module_xyz:make --protocol digits-50 --out-dir {tmp}/r"),
        1,
        "cannot import 'no_such_module_xyz'",
    ),
    Fault(
        "probe features user module without callable",
        argv("probe --features json --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "unknown extractor 'json'",
    ),
    Fault(
        "probe features user callable missing",
        argv("probe --features json:no_such_thing --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "json has no 'no_such_thing'",
    ),
    Fault(
        "probe features user callable fails",
        argv("probe --features json:dumps --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "calling dumps() failed: TypeError",
    ),
    Fault(
        "probe features user callable not a module",
        argv("probe --features json:JSONDecoder --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "JSONDecoder must be a torch.nn.Module or return one; got JSONDecoder",
    ),
    Fault(
        "features with an extractor and a checkpoint",
        argv("features --features pixels --ckpt {ckpt} --dataset digits --out {tmp}/f.npy"),
        1,
        "--features takes none of --ckpt, --bn-stats, --bn-pool, --float16",
    ),
    Fault(
        "features with neither a checkpoint nor an extractor",
        argv("features --dataset digits --out {tmp}/f.npy"),
        1,
        "give --ckpt CKPT (a D's features) or --features EXTRACTOR",
    ),
    Fault(
        "features set without an extractor",
        argv("features --ckpt {ckpt} --set K=4 --dataset digits --out {tmp}/f.npy"),
        1,
        "--set is for --features EXTRACTOR",
    ),
    Fault(
        "probe-curve C 0",
        ["probe-curve", "--ckpt", "{run}", "--protocol", "digits-50", "--C", "0"],
        2,
        "argument --C: must be a finite number in [1e-07, 1]; got '0'",
    ),
    Fault(
        "probe-curve steps x",
        ["probe-curve", "--ckpt", "{run}", "--steps", "1,x"],
        2,
        "argument --steps: 'x' in '1,x': must be a whole number >= 0",
    ),
    Fault(
        "probe-curve missing step",
        ["probe-curve", "--ckpt", "{run}", "--protocol", "digits-50", "--steps", "3"],
        1,
        "has no checkpoint at step(s) 3; it has 4",
    ),
    Fault(
        "probe with an unlabelled test split",
        argv(
            "probe --random-init dcgan32 --protocol cifar10-400 --data-root {tmp} --out-dir"
            " {tmp}/rows"
        ),
        1,
        "cifar10/test has no labels; a probe needs labelled train and test splits",
        ["cifar10_test.npz"],
        _unlabelled_test_split,
    ),
    Fault(
        "inception weights with the wrong keys",
        argv(
            "fidelity --ckpt {ckpt} --dataset digits --n 10 --inception-weights"
            " {tmp}/inception.pth --out-dir {tmp}/rows"
        ),
        1,
        "missing: Conv2d_1a_3x3.conv.weight, Conv2d_1a_3x3.bn.weight, ...;"
        " 1 unexpected: conv.weight",
        ["inception.pth"],
        _wrong_inception,
    ),
    Fault(
        "compare a binary file",
        ["compare", "{tmp}/rows.json", "{tmp}/rows.json"],
        1,
        "is not readable JSON",
        ["rows.json"],
        _binary,
    ),
    Fault(
        "forget with an inverted box",
        argv("forget --ckpt {ckpt} --boxes {tmp}/boxes.json --n 4 --out {tmp}/fo"),
        1,
        "box [20, 20, 5, 5] of sample 0 is not [x0, y0, x1, y1]",
        ["boxes.json"],
        _inverted_box,
    ),
    Fault(
        "walk out under a file",
        ["walk", "--ckpt", "{ckpt}", "--out", "{tmp}/file/walk"],
        2,
        "argument --out: {tmp}/file is a file where a folder belongs",
        ["file"],
        _a_file,
    ),
    Fault(
        "walk out is a file",
        ["walk", "--ckpt", "{ckpt}", "--out", "{tmp}/file"],
        2,
        "argument --out: {tmp}/file is a file where a folder belongs",
        ["file"],
        _a_file,
    ),
    Fault(
        "sample out under a file",
        ["sample", "--ckpt", "{ckpt}", "--n", "4", "--out", "{tmp}/file/s.png"],
        2,
        "argument --out: {tmp}/file is a file where a folder belongs",
        ["file"],
        _a_file,
    ),
    # options checked where they are declared (dcgan/argtypes.py), one of each kind of rule
    Fault(
        "compare alpha 0 (the gate switched off)",
        ["compare", "{tmp}/a.json", "{tmp}/a.json", "--alpha", "0"],
        2,
        "argument --alpha: must be a finite number in (0, 0.5]; got '0'",
        setup=_unshared_rows,
    ),
    Fault(
        "compare alpha nan",
        ["compare", "{tmp}/a.json", "{tmp}/a.json", "--alpha=nan"],
        2,
        "argument --alpha: must be a finite number in (0, 0.5]; got 'nan'",
        setup=_unshared_rows,
    ),
    Fault(
        "compare summary not Markdown",
        ["compare", "{tmp}/a.json", "{tmp}/b.json", "--summary", "{tmp}/summary.txt"],
        2,
        "argument --summary: must be a file path ending in .md; got",
        ["a.json", "b.json"],
        _unshared_rows,
        absent=["summary.txt"],
    ),
    Fault(
        "bench summary without compare",
        ["bench", "--summary", "{tmp}/s.md", "--runs", "{tmp}/runs", "--results", "{tmp}/res"],
        1,
        "--summary writes --compare's verdicts; add --compare, or drop it",
        absent=["s.md", "runs", "res"],
    ),
    Fault(
        "compare of sets that share no measurement",
        ["compare", "{tmp}/a.json", "{tmp}/b.json"],
        1,
        "the two sides share no measurement",
        ["a.json", "b.json"],
        _unshared_rows,
    ),
    Fault(
        "probe-curve C 1e6",
        ["probe-curve", "--ckpt", "{run}", "--C", "1e6"],
        2,
        "argument --C: must be a finite number in [1e-07, 1]; got '1e6'",
    ),
    Fault(
        "probe-curve draw-seed -1",
        ["probe-curve", "--ckpt", "{run}", "--draw-seed=-1"],
        2,
        "argument --draw-seed: must be a whole number in [0, 4294967295]; got '-1'",
    ),
    Fault(
        "arithmetic noise nan",
        ["arithmetic", "--ckpt", "{ckpt}", "--out", "{tmp}/ar", "--noise=nan"],
        2,
        "argument --noise: must be a finite number in [0, 10]; got 'nan'",
        absent=["ar"],
    ),
    Fault(
        "walk points 100000000",
        ["walk", "--ckpt", "{ckpt}", "--out", "{tmp}/w", "--points", "100000000"],
        2,
        "argument --points: must be a whole number in [1, 256]; got '100000000'",
        absent=["w"],
    ),
    Fault(
        "throughput svm-n 1",
        ["throughput", "--variant", "dcgan32", "--svm-n", "1"],
        2,
        "argument --svm-n: must be a whole number >= 100; got '1'",
    ),
    Fault(
        "throughput stages empty",
        ["throughput", "--variant", "dcgan32", "--stages", ""],
        2,
        "argument --stages: must be one or more comma-separated stage names; got ''",
    ),
    Fault(
        "fidelity metrics empty",
        ["fidelity", "--ckpt", "{ckpt}", "--dataset", "digits", "--metrics", ""],
        2,
        "argument --metrics: must be one or more comma-separated metric names; got ''",
    ),
    Fault(
        "features bn-pool empty",
        argv("features --ckpt {ckpt} --dataset digits --out {tmp}/f.npy --bn-pool="),
        2,
        "argument --bn-pool: must be DATASET:SPLIT; got ''",
    ),
    Fault(
        "features out without .npy",
        argv("features --ckpt {ckpt} --dataset digits --out {tmp}/feats"),
        2,
        "argument --out: must be a file path ending in .npy; got",
        absent=["feats"],
    ),
    Fault(
        "sample out jpg",
        ["sample", "--ckpt", "{ckpt}", "--out", "{tmp}/s.jpg"],
        2,
        "argument --out: must be a file path ending in .png; got",
        absent=["s.jpg"],
    ),
    Fault(
        "features cache-dir under a file",
        argv("features --ckpt {ckpt} --dataset digits --out {tmp}/f.npy --cache-dir {tmp}/file/c"),
        2,
        "argument --cache-dir: {tmp}/file is a file where a folder belongs",
        ["file"],
        _a_file,
    ),
    Fault(
        "DCGAN_CACHE under a file",
        argv("probe --random-init dcgan32 --protocol digits-50 --out-dir {tmp}/rows"),
        1,
        "$DCGAN_CACHE ({tmp}/file/cache): {tmp}/file is a file where a folder belongs",
        ["file"],
        _a_file,
        env={"DCGAN_CACHE": "{tmp}/file/cache"},
        absent=["rows"],
    ),
    Fault(
        "bench results is a file",
        ["bench", "--results", "{tmp}/file", "--runs", "{tmp}/runs"],
        2,
        "argument --results: {tmp}/file is a file where a folder belongs",
        ["file"],
        _a_file,
        absent=["runs"],
    ),
    Fault(
        "a failed command leaves no out folder it made",
        argv("probe --random-init dcgan32 --protocol nope --out-dir {tmp}/new/rows"),
        1,
        "unknown protocol 'nope'",
        absent=["new"],
    ),
    Fault(
        "probe a checkpoint that does not exist",
        argv("probe --ckpt {tmp}/nope.pt --protocol digits-50 --out-dir {tmp}/rows"),
        2,
        "argument --ckpt: must be an existing file or folder; '{tmp}/nope.pt' is not",
        absent=["rows"],
    ),
    Fault(
        "features failing into a new folder leaves none",
        argv("features --ckpt {ckpt} --dataset nope --out {tmp}/new/deeper/f.npy"),
        1,
        "unknown dataset 'nope'",
        absent=["new"],
    ),
    Fault(
        "data an unknown protocol",
        ["data", "--protocols", "cifar10-4000"],
        1,
        "unknown protocol 'cifar10-4000'; protocols: svhn-1000, cifar10-400",
    ),
    Fault(
        "data an unknown dataset",
        ["data", "--datasets", "cifar100"],
        1,
        "unknown dataset 'cifar100'; registered datasets: cifar10",
    ),
    # one writer per folder (dcgan/lock.py)
    Fault(
        "train into a folder another process writes",
        ["train", *TINY, "--steps", "2", "--out", "{tmp}/run", "--resume"],
        1,
        "--out {tmp}/run is being written by another process (PID",
        setup=_held_by_another,
    ),
    # recorded settings are not the user's to overwrite, nor a measurement against itself
    Fault(
        "memorisation tag replacing a recorded setting",
        argv(
            "memorisation --ckpt {ckpt} --dataset digits --tag n_held_out=12345 --out-dir {tmp}/r"
        ),
        1,
        "--tag n_held_out=... would replace the row's recorded 'n_held_out'",
        absent=["r"],
    ),
    Fault(
        "memorisation held-out images are the training images",
        argv(
            "memorisation --ckpt {ckpt} --dataset npz --data-root {tmp}/one.npz --pixels-only"
            " --out-dir {tmp}/r"
        ),
        1,
        "100 of the 100 held-out images (npz/test, {tmp}/one.npz) are training images",
        ["one.npz"],
        _one_npz,
        absent=["r"],
    ),
    # any state dict that is not torch-fidelity's Inception-v3: the wrong-stem case's one line
    Fault(
        "inception weights with an extra key",
        argv(
            "fidelity --ckpt {ckpt} --dataset digits --n 10 --inception-weights"
            " {tmp}/inception.pth --out-dir {tmp}/rows"
        ),
        1,
        "do not fit torch-fidelity's Inception-v3 (1 unexpected: aux.fc.weight)",
        ["inception.pth"],
        _inception_extra_key,
        absent=["rows"],
    ),
    Fault(
        "inception weights missing a Mixed_6a key",
        argv(
            "fidelity --ckpt {ckpt} --dataset digits --n 10 --inception-weights"
            " {tmp}/inception.pth --out-dir {tmp}/rows"
        ),
        1,
        "do not fit torch-fidelity's Inception-v3 (1 missing: Mixed_6a.branch3x3.conv.weight)",
        ["inception.pth"],
        _inception_missing_key,
    ),
    Fault(
        "inception weights with a misshapen Mixed_7a tensor",
        argv(
            "fidelity --ckpt {ckpt} --dataset digits --n 10 --inception-weights"
            " {tmp}/inception.pth --out-dir {tmp}/rows"
        ),
        1,
        "(1 misshapen: Mixed_7a.branch3x3_2.conv.weight (3, 3, 3, 3) (expected (320, 192, 3, 3)))",
        ["inception.pth"],
        _inception_misshapen,
    ),
    # the main job (bench/run.py) and the stand-in data writer (bench/standin.py)
    Fault(
        "bench: a scale the suite lacks",
        ["bench", "--suite", "quick", "--scale", "smoke", "--runs", "{tmp}/runs"],
        1,
        "the quick suite has the scale(s) full; got --scale smoke",
    ),
    Fault(
        "bench: an unknown scale",
        ["bench", "--suite", "paper", "--scale", "huge"],
        2,
        "argument --scale: invalid choice: 'huge'",
    ),
    Fault(
        "bench: inception weights missing",
        argv(
            "bench --suite paper --scale smoke --inception-weights {tmp}/nope.pth --runs {tmp}/runs"
        ),
        2,
        "argument --inception-weights: must be an existing file; '{tmp}/nope.pth' is not",
        absent=["runs"],
    ),
    Fault(
        "bench: Slurm options with the local launcher",
        argv("bench --slurm-gpus 2 --slurm-partition gpu --runs {tmp}/runs --results {tmp}/res"),
        1,
        "--slurm-partition, --slurm-gpus set(s) a Slurm job's resources; add --launcher slurm",
        absent=["runs", "res"],
    ),
    Fault(
        "bench: --launcher slurm where there is no Slurm",
        argv("bench --launcher slurm --workers 4 --runs {tmp}/runs --results {tmp}/res"),
        1,
        "--launcher slurm submits with Slurm's sbatch, which is not on PATH here",
        absent=["runs", "res"],
        env={"PATH": "{tmp}/bin"},
    ),
    Fault(
        "bench: no workers",
        argv("bench --workers 0 --runs {tmp}/runs"),
        2,
        "argument --workers:",
        absent=["runs"],
    ),
    Fault(
        "standin: into a folder with other files",
        ["standin", "{tmp}"],
        1,
        "holds other files; give an empty or new folder",
        ["file"],
        _a_file,
    ),
    Fault(
        "jpeg generation: no shared data",
        ["jpeg", "again", "{tmp}", "{tmp}/out"],
        1,
        "cifar10_train.npz is missing; point SRC at the shared data folder",
    ),
    Fault(
        "jpeg generation: wrong arguments",
        ["jpeg", "again", "{tmp}"],
        2,
        "usage: `again SRC DEST` or `distortion STATE SRC DEST`",
    ),
    Fault(
        "jpeg distortion: no state file",
        ["jpeg", "distortion", "{tmp}/state.npz", "{tmp}", "{tmp}"],
        1,
        "state.npz is missing (STATE: an extractor-state .npz",
    ),
    Fault(
        "standin: no shared data",
        ["standin", "{tmp}/out", "--source", "{tmp}"],
        1,
        "imagenet_sample.npz is missing; point --source at the shared data folder",
    ),
]

DRIVER = r"""
import contextlib, io, json, os, sys, traceback
from bench import jpeg_generation, run, standin
from dcgan import cli
tools = {"bench": run.main, "standin": standin.main, "jpeg": jpeg_generation.main}
out = []
for argv, env in json.load(sys.stdin):
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = tools[argv[0]](argv[1:]) if argv[0] in tools else cli.main(argv)
        except SystemExit as e:  # argparse's own errors
            code = e.code
        except BaseException:
            code = "traceback"
            traceback.print_exc(file=err)
    for name, value in before.items():  # as it was (PATH, for one, must come back)
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value
    out.append({"code": code, "err": err.getvalue()})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    run = base / "run"
    subprocess.run(
        argv(
            "{} -m dcgan.cli train {*} --steps 4 --ckpt-every 4 --out {}", sys.executable, TINY, run
        ),
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    ckpt = run / "ckpt-00000004.pt"
    argvs, before = [], []
    for k, fault in enumerate(FAULTS):
        tmp = base / f"case{k}"
        tmp.mkdir()
        if fault.setup:
            fault.setup(tmp)
        before.append({name: (tmp / name).read_bytes() for name in fault.unchanged})
        argvs.append(
            [
                [
                    a.replace("{tmp}", str(tmp))
                    .replace("{ckpt}", str(ckpt))
                    .replace("{run}", str(run))
                    for a in fault.argv
                ],
                {k: v.replace("{tmp}", str(tmp)) for k, v in fault.env.items()},
            ]
        )
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={**__import__("os").environ, "DCGAN_DATA_ROOT": str(base / "no-data")},
    )
    _HELD.close()
    assert done.returncode == 0, done.stderr[-3000:]
    return base, before, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("k", range(len(FAULTS)), ids=[f.name for f in FAULTS])
def test_fault(results, k):
    base, before, outcomes = results
    fault, outcome = FAULTS[k], outcomes[k]
    err = outcome["err"]
    assert "Traceback" not in err and outcome["code"] != "traceback", err
    assert outcome["code"] == fault.code, err
    assert fault.phrase.replace("{tmp}", str(base / f"case{k}")) in err, err
    # one line of error
    assert len([line for line in err.splitlines() if "error" in line]) == 1, err
    for name, data in before[k].items():
        assert (base / f"case{k}" / name).read_bytes() == data, f"{name} was changed"
    for name in fault.absent:
        assert not (base / f"case{k}" / name).exists(), f"{name} was left behind"


def test_the_table_covers_each_fault_once():
    assert len({f.name for f in FAULTS}) == len(FAULTS) >= 25
