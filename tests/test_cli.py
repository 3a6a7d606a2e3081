import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dcgan import cli

from .conftest import REPO, TINY_MODEL, argv

TINY = [*TINY_MODEL, "--no-progress"]


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_then_sample(tmp_path, capsys):
    code, out, err = run(
        capsys,
        "train",
        *TINY,
        "--steps",
        "12",
        "--ckpt-every",
        "6",
        "--out",
        str(tmp_path / "run"),
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)  # exactly one JSON object on stdout
    assert (
        result["steps"] == 12
        and result["checkpoint"].endswith("ckpt-00000012.pt")
        and result["images_per_s"] > 0
    )
    assert "trained dcgan32" in err
    code, out, err = run(
        capsys,
        "sample",
        "--ckpt",
        str(tmp_path / "run"),
        "--n",
        "10",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "a.png"),
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["bn_stats"] == "running"
    assert Image.open(tmp_path / "a.png").size == (4 * 34 + 2, 3 * 34 + 2)  # 10 images, 4 per row
    # the same seed from the checkpoint file draws the same images; another seed others
    for seed, name in (("3", "b"), ("4", "c")):
        sample = ["sample", "--ckpt", result["checkpoint"], "--n", "10", "--seed", seed]
        code, _, err = run(capsys, *sample, "--out", str(tmp_path / f"{name}.png"))
        assert code == 0, err
    a, b, c = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_listings(capsys):
    code, out, _ = run(capsys, "variants", "--json")
    rows = json.loads(out)["variants"]
    assert rows["imagenet32"]["feature_dim"] == 28672 and "dcgan32-nobn" in rows
    code, out, _ = run(capsys, "datasets")
    assert code == 0 and "digits" in out and "DCGAN_DATA_ROOT" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "--variant", "imagenet33", "--steps", "1", "--out", "{tmp}/r"],
            "unknown variant 'imagenet33'; registered variants: imagenet32",
        ),
        (
            argv("train --variant dcgan32 --set widht=3 --steps 1 --out {tmp}/r"),
            "unknown variant field 'widht'",
        ),
        (
            argv(
                "train --variant dcgan32 --dataset cifar10 --data-root {tmp}/missing --steps 1"
                " --out {tmp}/r"
            ),
            "data root {tmp}/missing does not exist",
        ),
        (
            argv(
                "train --variant dcgan32 --dataset npz --data-root {tmp}/bad.npz --steps 1 --out"
                " {tmp}/r"
            ),
            "'x' must be uint8 images",
        ),
        (
            ["sample", "--ckpt", "{tmp}/trunc.pt", "--out", "{tmp}/s.png"],
            "checkpoint {tmp}/trunc.pt is corrupt or truncated",
        ),
        (
            argv(
                "train --variant dcgan32 --dataset imagenet --data-root {tmp}/tree --steps 1 --out"
                " {tmp}/r"
            ),
            "none of the 1 image files",
        ),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, args, message):
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 32, 32, 3), np.float32))
    (tmp_path / "tree" / "train" / "n000").mkdir(parents=True)
    (tmp_path / "tree" / "train" / "n000" / "a.JPEG").write_bytes(b"\xff\xd8\xff\xe0 corrupt jpeg")
    import torch

    torch.save({"format": "x", "w": torch.zeros(1000)}, tmp_path / "full.pt")
    (tmp_path / "trunc.pt").write_bytes((tmp_path / "full.pt").read_bytes()[:300])
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "DCGAN_CACHE": str(tmp_path / "cache")}
    p = subprocess.run(
        [sys.executable, "-m", "dcgan.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1
    lines = [line for line in p.stderr.splitlines() if line.startswith("dcgan: error:")]
    assert len(lines) == 1 and message.replace("{tmp}", str(tmp_path)) in lines[0], p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_foreign_checkpoint_is_refused_without_unpickling(tmp_path, capsys):
    from fractions import Fraction

    import torch

    # any class outside weights_only's allow-list stands for code a pickle could run
    torch.save(
        {"format": "dcgan-bench-checkpoint/1", "obj": Fraction(1, 3)}, tmp_path / "foreign.pt"
    )
    code, _, err = run(
        capsys, "sample", "--ckpt", str(tmp_path / "foreign.pt"), "--out", str(tmp_path / "s.png")
    )
    assert code == 1 and "weights-only load refuses" in err


def test_sample_never_overwrites(tmp_path, capsys):
    run(capsys, "train", *TINY, "--steps", "2", "--out", str(tmp_path / "run"))
    (tmp_path / "keep.png").write_bytes(b"precious")
    code, _, err = run(
        capsys, "sample", "--ckpt", str(tmp_path / "run"), "--out", str(tmp_path / "keep.png")
    )
    assert code == 1 and "pass --force" in err
    assert (tmp_path / "keep.png").read_bytes() == b"precious"


def test_missing_shared_data_skips_locally_and_fails_under_ci(tmp_path, monkeypatch):
    from .conftest import require_shared

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="cifar10_train.npz"):
        require_shared(tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=str(tmp_path / "imagenet_sample.npz")):
        require_shared(tmp_path)
