"""torch-fidelity metrics and the memorisation check, offline: a randomly initialised Inception
stands in for the standard weights (so nothing here may be called FID)."""

import dataclasses
import json
import re
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch

from dcgan import checkpoint, cli, nets
from dcgan.data import ImageSet
from dcgan.quality import fidelity, inception_weights, memorisation, metrics

from .conftest import argv
from .test_cli import run


def reference(n=24, seed=0) -> ImageSet:
    rng = np.random.default_rng(seed)
    return ImageSet(
        rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), None, "npz", f"test-{seed}", "test"
    )


def test_the_weights_check_recognises_only_the_standard_file(random_inception):
    w = inception_weights.resolve_weights(random_inception)
    assert not w.standard and len(w.sha256) == 64
    assert w.sha256 != inception_weights.STANDARD_INCEPTION["sha256"]
    # the line a person reads says what these numbers are not; the standard file needs none
    assert "not FID/IS/KID" in w.note() and w.sha256[:16] in w.note()
    assert dataclasses.replace(w, standard=True).note() is None


def test_weights_that_need_unpickling_are_refused(tmp_path):
    bad = tmp_path / "bad.pth"
    # a global outside the safe list
    torch.save({"conv": torch.zeros(1), "extra": np.dtype("float32").type}, bad)
    with pytest.raises(Exception, match="weights_only=True"):
        inception_weights.resolve_weights(bad)


def test_missing_weights_offline_is_one_line_naming_the_file(
    tmp_path, capsys, monkeypatch, tiny_ckpt
):
    monkeypatch.delenv(inception_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with mock.patch(
        "torch.hub.download_url_to_file", side_effect=AssertionError("no download at test time")
    ):
        code, out, err = run(
            capsys, "fidelity", "--ckpt", str(tiny_ckpt), "--dataset", "digits", "--n", "10"
        )
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (
        inception_weights.STANDARD_INCEPTION["file"] in err and str(tmp_path / "torch-home") in err
    )
    assert "--inception-weights" in err and "--download" in err
    # a given file that is not there: refused while the command line is read
    with pytest.raises(SystemExit) as exit_:
        cli.main(
            argv(
                "fidelity --ckpt {} --dataset digits --inception-weights {}", tiny_ckpt, "nope.pth"
            )
        )
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "argument --inception-weights: must be an existing file" in err
    # as is $DCGAN_INCEPTION_WEIGHTS naming one, when the command reads it
    monkeypatch.setenv(inception_weights.WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    code, _, err = run(capsys, "fidelity", "--ckpt", str(tiny_ckpt), "--dataset", "digits")
    assert code == 1 and "nope.pth" in err and err.count("\n") == 1


def test_fidelity_end_to_end_never_calls_nonstandard_numbers_fid(
    tmp_path, capsys, random_inception, tiny_ckpt
):
    args = argv(
        "fidelity --ckpt {} --dataset digits --split test --n 20 --n-real 20 --kid-subset-size 10"
        " --inception-weights {} --out-dir {} --no-progress --json",
        tiny_ckpt,
        random_inception,
        tmp_path / "res",
    )
    code, out, err = run(capsys, *args)
    assert code == 0, err
    result = json.loads(out)
    rows = {r["metric"]: r for r in result["rows"]}
    assert set(rows) == {
        m.nonstandard for metric in metrics.REGISTRY.values() for m in metric.measures
    }
    for text in (out, (tmp_path / "res" / "fidelity-rows.csv").read_text()):
        assert "FID" not in text.replace("(not FID)", "") and "not FID" in text
    assert "not FID" in err
    row = rows[metrics.REGISTRY["fid"].measures[0].nonstandard]
    assert row["n_fake"] == 20 and row["n_real"] == 20 and row["inception_standard"] is False
    assert row["inception_sha256"] == inception_weights.resolve_weights(random_inception).sha256
    assert row["torch_fidelity"] and row["batch_size"] == 64 and "299" in row["resize"]
    assert np.isfinite(row["value"]) and row["value"] > 0
    # the reference statistics are cached under the weights' hash and the data's content hash
    cached = list(
        (tmp_path / "cache" / "fidelity" / row["inception_sha256"][:16]).glob(
            f"dcgan-digits-*{row['reference_fingerprint']}*"
        )
    )
    assert cached
    # a second run appends, never overwrites
    code, out2, _ = run(capsys, *args)
    assert code == 0 and json.loads(out2)["json"] != result["json"]
    assert len(
        (tmp_path / "res" / "fidelity-rows.csv").read_text().strip().splitlines()
    ) == 1 + 2 * len(rows)
    assert json.loads(out2)["rows"][0]["value"] == pytest.approx(
        result["rows"][0]["value"], rel=1e-6
    )

    # a payload planted in torch-fidelity's cache (which it unpickles without restriction)
    # never runs
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # harmless proof of execution: creating a file

    target = cached[0] if cached[0].suffix == ".pt" else next(cached[0].parent.rglob("*.pt"))
    torch.save({"mu": Payload()}, target)
    code, _, err = run(capsys, *args)
    assert code == 1 and not marker.exists()
    assert (
        re.search(r"holds more than arrays \((builtins|io)\.open\)", err)
        and str(target) in err
        and "Traceback" not in err
    )


def test_a_set_against_itself_is_about_zero(random_inception, tmp_path):
    import torch_fidelity

    ref = reference(24)
    name = fidelity.register_reference(ref)
    # torch-fidelity on the CPU, quiet, with the test's random-init weights
    on_cpu = dict(
        cuda=False,
        verbose=False,
        feature_extractor=fidelity.FEATURE_EXTRACTOR,
        feature_extractor_weights_path=str(random_inception),
        cache_root=str(tmp_path),
    )
    m = torch_fidelity.calculate_metrics(
        input1=name, input2=name, fid=True, kid=True, kid_subset_size=12, **on_cpu
    )
    other = reference(24, seed=1)
    other = torch_fidelity.calculate_metrics(
        input1=name, input2=fidelity.register_reference(other), fid=True, **on_cpu
    )
    assert abs(m["frechet_inception_distance"]) < 1e-3 * other["frechet_inception_distance"]
    assert abs(m["kernel_inception_distance_mean"]) < 1e-3


@pytest.mark.slow  # about 20 s: two Inception passes on the CPU
def test_our_adapter_equals_a_direct_torch_fidelity_call(random_inception, tiny_ckpt, tmp_path):
    import torch_fidelity

    v, netG, _, _ = checkpoint.load_models(tiny_ckpt)
    ref = reference(20)
    weights = inception_weights.resolve_weights(random_inception)
    ours = fidelity.compute(
        netG,
        v,
        ref,
        20,
        weights,
        batch_size=64,
        seed=7,
        cache_dir=tmp_path,
        kid_subset_size=10,
        progress=False,
    )
    # by hand: torch-fidelity's own z draws, our G mapped to uint8 in the test, plain datasets
    z = torch.from_numpy(np.random.RandomState(7).rand(20, v.nz)).float() * 2 - 1
    with torch.no_grad():
        fakes = ((netG.eval()(z) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    direct = torch_fidelity.calculate_metrics(
        input1=fidelity.ImagesDataset(fakes.permute(0, 2, 3, 1).numpy()),
        input2=fidelity.ImagesDataset(ref.x),
        isc=True,
        fid=True,
        kid=True,
        prc=True,
        cuda=False,
        verbose=False,
        rng_seed=7,
        kid_subset_size=10,
        feature_extractor=fidelity.FEATURE_EXTRACTOR,
        feature_layer_prc="2048",
        feature_extractor_weights_path=str(random_inception),
    )
    assert set(direct) == set(ours["raw"])
    for key, value in direct.items():
        assert ours["raw"][key] == pytest.approx(float(value), rel=1e-5, abs=1e-9), key


def test_a_generator_of_the_wrong_size_is_refused(random_inception, tiny_ckpt):
    v, netG, _, _ = checkpoint.load_models(tiny_ckpt)
    small = ImageSet(np.zeros((4, 16, 16, 3), np.uint8), None, "npz", "x", "test")
    with pytest.raises(Exception, match="16 px but dcgan32 draws 32 px"):
        fidelity.compute(netG, v, small, 4, inception_weights.resolve_weights(random_inception))


def test_memorisation_finds_a_planted_duplicate(tmp_path):
    rng = np.random.default_rng(0)
    train = ImageSet(
        rng.integers(0, 256, (300, 8, 8, 3), dtype=np.uint8), None, "npz", "train", "test"
    )
    held = ImageSet(
        rng.integers(0, 256, (50, 8, 8, 3), dtype=np.uint8), None, "npz", "test", "test"
    )
    samples = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    samples[17] = train.x[123]  # the copy
    # a near copy
    samples[5] = np.clip(train.x[7].astype(int) + rng.integers(-3, 4, (8, 8, 3)), 0, 255)
    r = memorisation.check(samples, train, held)
    d, idx = r["pixel_nearest"]["distance"], r["pixel_nearest"]["index"]
    assert idx[17] == 123 and d[17] == 0.0 and idx[5] == 7 and 0 < d[5] < 3
    assert r["pixels"]["n_generated_exact_copies"] == 1
    assert r["pixels"]["frac_generated_below_held_out_q0.01"] == pytest.approx(2 / 40)
    pairs = memorisation.closest_pairs_image(samples, train.x, d, idx, tmp_path / "pairs.png", k=4)
    assert [p["sample"] for p in pairs[:2]] == [17, 5] and pairs[0]["train_index"] == 123
    from PIL import Image

    assert Image.open(tmp_path / "pairs.png").size == (4 * 10 + 2, 2 * 10 + 2)


def test_memorisation_command_finds_a_generated_sample_planted_in_the_training_data(
    tmp_path, capsys, tiny_ckpt
):
    v, netG, _, _ = checkpoint.load_models(tiny_ckpt)
    planted = nets.sample_images(netG, 30, seed=0)[11]  # what the command will draw as sample 11
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    train[42] = planted
    np.savez(tmp_path / "train.npz", x=train)
    np.savez(tmp_path / "test.npz", x=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8))
    command = ["memorisation", "--ckpt", str(tiny_ckpt), "--dataset", "npz"]
    command += ["--data-root", str(tmp_path)]
    code, out, err = run(
        capsys,
        *command,
        "--n",
        "30",
        "--n-held-out",
        "60",
        "--k",
        "4",
        "--out-dir",
        str(tmp_path / "res"),
        "--no-progress",
        "--json",
        "--tag",
        "run=baseline",
        "--tag",
        "cell=a=b",
    )
    assert code == 0, err
    row = json.loads(out)["row"]
    assert (
        row["pixels_n_generated_exact_copies"] == 1
        and row["features_n_generated_exact_copies"] >= 1
    )
    assert row["pixels_closest_pairs"][0] == {"sample": 11, "train_index": 42, "distance": 0.0}
    assert (
        row["features_closest_pairs"][0]["sample"] == 11
        and row["features_closest_pairs"][0]["train_index"] == 42
    )
    csv_rows = pd.read_csv(tmp_path / "res" / "memorisation-rows.csv")
    # the tags are columns of the row
    assert csv_rows[["run", "cell"]].values.tolist() == [["baseline", "a=b"]]
    # what --tag may not replace is what the row records: its declared fields, then measurements
    recorded = [k for k in row if k not in ("run", "cell")]
    assert [k for k in recorded if not k.startswith(("pixels_", "features_"))] == list(
        memorisation.ROW_FIELDS
    )
    assert len(list((tmp_path / "res").glob("memorisation-*-pixels.png"))) == 1
    code, _, err = run(capsys, *command, "--tag", "run")
    assert code == 1 and "--tag 'run' is not KEY=VALUE" in err and "Traceback" not in err


def test_download_goes_to_torch_fidelitys_location_and_failures_are_one_line(
    tmp_path, monkeypatch, random_inception
):
    import shutil

    monkeypatch.delenv(inception_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    calls = []

    def fake_download(url, dest, hash_prefix=None):
        calls.append((url, hash_prefix))
        shutil.copy(random_inception, dest)

    with mock.patch("torch.hub.download_url_to_file", side_effect=fake_download):
        w = inception_weights.resolve_weights(download=True)
    assert calls == [
        (
            inception_weights.STANDARD_INCEPTION["url"],
            inception_weights.STANDARD_INCEPTION["sha256"][:8],
        )
    ]
    assert w.path == inception_weights.hub_path() and w.path.is_file() and not w.standard
    w.path.unlink()
    with mock.patch(
        "torch.hub.download_url_to_file", side_effect=OSError("network is unreachable")
    ):
        with pytest.raises(
            inception_weights.UserError,
            match="could not download the Inception weights .*network is unreachable.*by hand",
        ):
            inception_weights.resolve_weights(download=True)
