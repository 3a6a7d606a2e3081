"""`dcgan data` and the main job's data check (dcgan/data/check.py): what is found is loaded and
counted as a run loads it, what is missing is named with how to get it, the exit status says
whether everything is there, and nothing is downloaded unless asked."""

import json

import numpy as np

from bench import run
from dcgan import cli, data
from dcgan.data import check as datacheck

from .conftest import argv


def _cifar_npz(root, n_train=60, n_test=20):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        np.savez(
            root / f"cifar10_{split}.npz",
            x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            y=np.arange(n) % 10,
        )


def test_found_and_missing_splits_with_how_to_get_them(tmp_path, capsys):
    _cifar_npz(tmp_path)
    code = cli.main(argv("data --data-root {} --protocols cifar10-400,svhn-1000 --json", tmp_path))
    assert code == 1  # SVHN is missing
    rows = {(r["dataset"], r["split"]): r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert set(rows) == {
        ("cifar10", "train"),
        ("cifar10", "test"),
        ("svhn", "train"),
        ("svhn", "test"),
    }
    train = rows[("cifar10", "train")]
    assert train["found"] and train["images"] == 60 and train["labelled"]
    assert train["source"] == "<data root>/cifar10_train.npz"  # the machine's folder named
    assert train["checksum"] == "no published checksum for this copy"
    svhn = rows[("svhn", "test")]
    assert not svhn["found"] and "<data root>/test_32x32.mat" in svhn["problem"]
    assert "torchvision fetches test_32x32.mat" in svhn["how_to_get"]
    assert svhn["needed_for"] == "svhn-1000 (test)"
    # with only what is there, the exit status says so
    assert cli.main(argv("data --data-root {} --protocols cifar10-400", tmp_path)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "2 of 2 dataset splits found"


def test_an_empty_root_names_every_split_and_download_is_asked_for_only_where_it_exists(
    tmp_path, monkeypatch
):
    calls = []
    real = data.load

    def recording(name, split, root=None, download=False, **kw):
        calls.append((name, download))
        return real(name, split, root, download=False, **kw)  # never the network in a test

    monkeypatch.setattr(data, "load", recording)
    rows = datacheck.check(datacheck.everything(), tmp_path, download=True)
    missing = [f"{r['dataset']}/{r['split']}" for r in rows if not r["found"]]
    assert {"cifar10/train", "cifar10/test", "svhn/train", "imagenet32/train"} <= set(missing)
    assert all(r["how_to_get"] for r in rows if not r["found"] and r["dataset"] != "digits")
    assert {n for n, d in calls if d} == {"cifar10", "svhn"}  # ImageNet is the user's own copy
    assert [r["found"] for r in rows if r["dataset"] == "digits"] == [True, True]  # built in


def test_the_main_job_names_the_cells_that_cannot_run_before_any_work(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    args = argv(
        "--suite paper --scale smoke --check-data --runs {} --results {}",
        tmp_path / "runs",
        tmp_path / "results",
    )
    assert run.main(args) == 1
    out = capsys.readouterr().out
    assert "imagenet32/train (for training): MISSING:" in out
    assert "cannot run: train/imagenet32[ngf=16,ndf=16,batch_size=32]/imagenet32/seed0/" in out
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def test_the_data_roots_own_sha256sums_is_checked(tmp_path):
    import hashlib

    _cifar_npz(tmp_path)
    good = hashlib.sha256((tmp_path / "cifar10_train.npz").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(
        f"{good}  cifar10_train.npz\n{'0' * 64}  cifar10_test.npz\n"
    )
    rows = datacheck.check(datacheck.needs(protocol_names=["cifar10-400"]), tmp_path)
    assert [r["checksum"] for r in rows] == [
        "sha256 ok (SHA256SUMS)",
        "sha256 MISMATCH (SHA256SUMS)",
    ]
