import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from dcgan import data
from dcgan.data import ingest
from dcgan.errors import UserError

# --- the real CIFAR-10 of ../shared/data
# -----------------------------------------------------------


def test_cifar10_npz_real(shared_data):
    test = data.load("cifar10", "test", shared_data)
    assert test.x.shape == (10000, 32, 32, 3) and test.x.dtype == np.uint8
    assert np.bincount(test.y).tolist() == [1000] * 10
    assert test.classes[0] == "airplane" and len(test.classes) == 10


def test_cifar10_train_is_in_official_order(shared_data):
    """The loader's first 200 training images are the official ones (lossless copies), up to
    JPEG error."""
    train = data.load("cifar10", "train", shared_data)
    assert train.x.shape == (50000, 32, 32, 3)
    with np.load(shared_data / "cifar10_train_first200_lossless.npz") as ref:
        idx, x_ref, y_ref = ref["train_index"], ref["x"], ref["y"]
    assert np.array_equal(train.y[idx], y_ref)
    err = np.abs(train.x[idx].astype(float) - x_ref).mean()
    assert err < 10, err  # the shared file states 5.9/255 mean absolute JPEG error
    shuffled = np.abs(train.x[idx[::-1]].astype(float) - x_ref).mean()
    assert shuffled > 3 * err


def test_cifar10_missing_says_what_is_expected(tmp_path):
    with pytest.raises(
        UserError,
        match=r"no CIFAR-10 under .*cifar10_train.npz or torchvision's cifar-10-batches-py",
    ):
        data.load("cifar10", "train", tmp_path)


# --- SVHN, in torchvision's .mat format ----------------------------------------------------------


def test_svhn_mat(tmp_path, shared_data):
    with np.load(shared_data / "cifar10_test.npz") as d:
        images = d["x"][:30]
    digits = np.arange(30) % 10
    labels = np.where(digits == 0, 10, digits)  # SVHN stores 0 as 10
    scipy.io.savemat(
        tmp_path / "test_32x32.mat",
        {"X": images.transpose(1, 2, 3, 0), "y": labels[:, None].astype(np.uint8)},
    )
    s = data.load("svhn", "test", tmp_path)
    assert np.array_equal(s.x, images)
    assert np.array_equal(s.y, digits)
    with pytest.raises(UserError, match=r"no SVHN train split: expected .*train_32x32.mat"):
        data.load("svhn", "train", tmp_path)
    scipy.io.savemat(
        tmp_path / "extra_32x32.mat",
        {"X": np.zeros((16, 16, 3, 2), np.uint8), "y": np.ones((2, 1))},
    )
    with pytest.raises(UserError, match=r"X must be uint8 \(32, 32, 3, N\)"):
        data.load("svhn", "extra", tmp_path)


# --- downsampled ImageNet batch files ------------------------------------------------------------


def _imagenet_batch(x, y):
    # Chrabaszcz et al.'s layout: rows of 3*S*S, all R then G then B; labels 1-based
    return {
        "data": x.transpose(0, 3, 1, 2).reshape(len(x), -1),
        "labels": (y + 1).tolist(),
        "mean": x.mean(0).ravel(),
    }


@pytest.mark.parametrize("size", [32, 64])
def test_downsampled_imagenet_pickle_and_npz(tmp_path, shared_data, size):
    with np.load(shared_data / "imagenet_sample.npz") as d:
        x, y = d[f"x{size}"][:40], d["y"][:40]
    with open(tmp_path / "train_data_batch_1", "wb") as f:
        pickle.dump(_imagenet_batch(x[:20], y[:20]), f)
    np.savez(tmp_path / "train_data_batch_2.npz", **_imagenet_batch(x[20:], y[20:]))
    with open(tmp_path / "val_data", "wb") as f:
        pickle.dump(_imagenet_batch(x[:5], y[:5]), f)
    train = data.load(f"imagenet{size}", "train", tmp_path)
    assert np.array_equal(train.x, x) and np.array_equal(train.y, y)
    assert data.load(f"imagenet{size}", "val", tmp_path).x.shape == (5, size, size, 3)


def test_downsampled_imagenet_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    with open(tmp_path / "val_data", "wb") as f:
        pickle.dump({"data": Evil(), "labels": [1]}, f)
    with pytest.raises(UserError, match="refusing to load global builtins.print"):
        data.load("imagenet32", "val", tmp_path)


def test_downsampled_imagenet_wrong_width(tmp_path):
    np.savez(tmp_path / "val_data.npz", data=np.zeros((3, 100), np.uint8), labels=np.ones(3))
    with pytest.raises(UserError, match=r"'data' must be uint8 \(N, 3072\)"):
        data.load("imagenet32", "val", tmp_path)


# --- a raw ImageNet JPEG tree --------------------------------------------------------------------


def _write_tree(root, shared_data, per_class=4, classes=3):
    with np.load(shared_data / "imagenet_sample.npz") as d:
        x64, wnids = d["x64"], d["wnids"]
    written = []
    for c in range(classes):
        folder = root / "train" / str(wnids[c])
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = x64[c * per_class + i]
            if i == 1:
                img = np.concatenate([img, img[:, :32]], axis=1)  # 64 x 96: not square
            path = folder / f"{wnids[c]}_{i}.JPEG"
            Image.fromarray(img).save(path, quality=95)
            written.append((path, c))
    return written


def test_imagenet_tree_is_min_resized_and_centre_cropped(tmp_path, shared_data):
    written = _write_tree(tmp_path / "ilsvrc", shared_data)
    s = data.load("imagenet", "train", tmp_path / "ilsvrc", workers=2)
    assert s.x.shape == (len(written), 32, 32, 3)
    assert s.y.tolist() == [c for _, c in written]
    for k, (path, _) in enumerate(written):
        decoded = np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
        # a 2x bilinear shrink without antialiasing samples between pixel pairs: a 2x2 mean
        h, w = decoded.shape[:2]
        pooled = decoded.reshape(h // 2, 2, w // 2, 2, 3).mean((1, 3))
        left = (pooled.shape[1] - 32) // 2
        expected = pooled[:, left : left + 32]
        assert np.abs(s.x[k] - expected).max() <= 1, path  # rounding only


def test_imagenet_tree_skips_and_lists_corrupt_files_and_converts_grey_and_cmyk(
    tmp_path, shared_data, capsys
):
    root = tmp_path / "ilsvrc"
    written = _write_tree(root, shared_data, per_class=2, classes=2)
    folder = written[0][0].parent
    (folder / "broken.JPEG").write_bytes(written[0][0].read_bytes()[:200])  # truncated
    (folder / "junk.JPEG").write_bytes(b"not an image at all")
    rgb = np.asarray(Image.open(written[0][0]))
    Image.fromarray(rgb).convert("L").save(folder / "grey.JPEG")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.JPEG")
    s = data.load("imagenet", "train", root, workers=1)
    assert len(s) == len(written) + 2  # grey and CMYK decoded, the two broken ones skipped
    err = capsys.readouterr().err
    assert "skipped 2 corrupt image file(s)" in err and "broken.JPEG" in err and "junk.JPEG" in err
    report = next((tmp_path / "cache").glob("imagenet-train-32px-*.json")).read_text()
    assert "broken.JPEG" in report and "junk.JPEG" in report
    converted = json.loads(report)["converted_to_rgb"]
    assert {k: (v["count"], [Path(f).name for f in v["files"]]) for k, v in converted.items()} == {
        "CMYK": (1, ["cmyk.JPEG"]),
        "greyscale": (1, ["grey.JPEG"]),
    }
    assert "converted to RGB: 1 CMYK, 1 greyscale" in err
    decoded = [
        p.name for p in sorted(folder.iterdir()) if p.name not in ("broken.JPEG", "junk.JPEG")
    ]
    grey_index = decoded.index("grey.JPEG")
    g = s.x[grey_index].astype(int)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])


def test_imagenet_tree_cache_is_reused_and_keyed_on_content(tmp_path, shared_data, monkeypatch):
    root = tmp_path / "ilsvrc"
    written = _write_tree(root, shared_data, per_class=2, classes=2)
    first = data.load("imagenet", "train", root, workers=1)

    def no_decoding(*a, **k):
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(ingest, "ProcessPoolExecutor", no_decoding)
    again = data.load("imagenet", "train", root)
    assert np.array_equal(first.x, again.x) and first.fingerprint() == again.fingerprint()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(written[0][0].parent / "new.JPEG")
    with pytest.raises(AssertionError, match="decoded again"):
        data.load("imagenet", "train", root)


def test_an_interrupted_ingestion_resumes_at_the_first_unfinished_chunk(
    tmp_path, shared_data, monkeypatch
):
    root = tmp_path / "ilsvrc"
    written = _write_tree(root, shared_data, per_class=4, classes=3)  # 12 files: chunks of 5, 5, 2
    monkeypatch.setattr(ingest, "INGEST_CHUNK", 5)
    real_savez, saved = np.savez, []

    def interrupted(path, **arrays):
        if len(saved) == 1:
            raise KeyboardInterrupt  # stopped while the second chunk was being written
        saved.append(path)
        real_savez(path, **arrays)

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.load("imagenet", "train", root, workers=1)
    parts = list((tmp_path / "cache").glob("*.part*.npz"))
    assert [p.name.split(".")[-2] for p in parts] == ["part00000"] and not list(
        (tmp_path / "cache").glob("*.x.npy")
    )
    monkeypatch.setattr(np, "savez", real_savez)
    s = data.load("imagenet", "train", root, workers=1)
    report = json.loads(next((tmp_path / "cache").glob("imagenet-train-32px-*.json")).read_text())
    # chunk 1 was not decoded again
    assert report["decoded_this_run"] == 7 and report["decoded"] == len(written) == len(s)
    assert not list((tmp_path / "cache").glob("*.part*"))  # parts removed once the cache is whole
    uninterrupted = ingest.ingest_files(
        [p for p, _ in written],
        np.array([c for _, c in written]),
        32,
        "x",
        "train",
        "t",
        tmp_path / "other",
        workers=1,
    )
    assert np.array_equal(s.x, uninterrupted.x) and s.y.tolist() == [c for _, c in written]


def _tar_of_class_tars(tree: Path, out: Path, evil: bool = False) -> Path:
    import io
    import tarfile

    with tarfile.open(out, "w") as outer:
        for d in sorted(p for p in tree.iterdir() if p.is_dir()):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as inner:
                for f in sorted(d.iterdir()):
                    inner.add(f, arcname=f.name)
                if evil:
                    inner.add(next(d.iterdir()), arcname="../../escaped.JPEG")
            info = tarfile.TarInfo(f"{d.name}.tar")
            info.size = buf.tell()
            buf.seek(0)
            outer.addfile(info, buf)
    return out


def test_the_train_tar_is_extracted_safely_and_read_as_the_tree(tmp_path, shared_data):
    written = _write_tree(tmp_path / "tree", shared_data, per_class=2, classes=3)
    (tmp_path / "dl").mkdir()
    _tar_of_class_tars(tmp_path / "tree" / "train", tmp_path / "dl" / ingest.TRAIN_TAR)
    from_tar = data.load("imagenet", "train", tmp_path / "dl", workers=1)
    from_tree = data.load("imagenet", "train", tmp_path / "tree", workers=1)
    assert (
        np.array_equal(from_tar.x, from_tree.x)
        and from_tar.classes == from_tree.classes
        and len(from_tar) == len(written)
    )

    bad = tmp_path / "bad"
    bad.mkdir()
    _tar_of_class_tars(tmp_path / "tree" / "train", bad / ingest.TRAIN_TAR, evil=True)
    with pytest.raises(UserError, match="refusing to extract"):
        data.load("imagenet", "train", bad, workers=1, cache_dir=str(tmp_path / "badcache"))
    assert not list(tmp_path.rglob("escaped.JPEG"))


def test_imagenet_tree_missing(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match=r"no ImageNet class folders under .*<wnid>/\*.JPEG") as e:
        data.load("imagenet", "train", tmp_path)
    assert "ILSVRC-2012 train tree" in str(e.value) and "ILSVRC2012_img_train.tar" in str(e.value)
    # the val split names its own tree and how its flat folder becomes one, never the train tar
    (tmp_path / "val").mkdir()
    with pytest.raises(UserError, match="ILSVRC-2012 val tree") as e:
        data.load("imagenet", "val", tmp_path)
    assert "flat folder" in str(e.value) and ".tar" not in str(e.value)


def test_folder_of_images(tmp_path, shared_data):
    written = _write_tree(tmp_path / "imgs", shared_data, per_class=2, classes=2)
    s = data.load("folder", "train", tmp_path / "imgs", size=64, workers=1)
    assert s.x.shape == (len(written), 64, 64, 3) and s.y is None
    with pytest.raises(UserError, match="no image files"):
        (tmp_path / "empty").mkdir()
        data.load("folder", "train", tmp_path / "empty")


# --- npz, digits, and bad input ------------------------------------------------------------------


def test_npz_file_and_greyscale(tmp_path, shared_data):
    faces = data.load("npz", "train", shared_data / "orl_faces.npz", x_key="x32")
    assert faces.x.shape == (400, 32, 32, 3) and len(np.unique(faces.y)) == 40
    np.savez(tmp_path / "test.npz", x=np.zeros((5, 8, 8, 3), np.uint8))
    unlabelled = data.load("npz", "test", tmp_path)
    assert unlabelled.y is None and len(unlabelled) == 5


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((5, 8, 8, 3), np.float32), r"must be uint8 images .* got float32"),
        (
            np.zeros((5, 8, 8, 4), np.uint8),
            r"must be \(N, H, W, 3\) or greyscale \(N, H, W\); got shape \(5, 8, 8, 4\)",
        ),
        (np.zeros((5, 64), np.uint8), r"got shape \(5, 64\)"),
    ],
)
def test_npz_wrong_arrays(tmp_path, x, message):
    np.savez(tmp_path / "bad.npz", x=x)
    with pytest.raises(UserError, match=message):
        data.load("npz", "train", tmp_path / "bad.npz")


def test_npz_not_an_npz(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable .npz"):
        data.load("npz", "train", tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", images=np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(UserError, match=r"has no array 'x' \(it has images\)"):
        data.load("npz", "train", tmp_path / "other.npz")


def test_digits_offline_default():
    s = data.load("digits", "train")
    assert s.x.shape == (1500, 32, 32, 3) and s.x.dtype == np.uint8
    assert s.x.max() == 255 and set(np.unique(s.y)) == set(range(10))
    assert len(data.load("digits", "test")) == 297


def test_registry_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("DCGAN_DATA_ROOT", raising=False)
    with pytest.raises(
        UserError, match="unknown dataset 'cifar100'; registered datasets: cifar10, svhn"
    ):
        data.load("cifar100")
    with pytest.raises(UserError, match="has no split 'valid'; splits: train, test"):
        data.load("cifar10", "valid", tmp_path)
    with pytest.raises(
        UserError, match="needs a data root: pass --data-root DIR or set DCGAN_DATA_ROOT"
    ):
        data.load("cifar10", "train")
    with pytest.raises(UserError, match="does not exist"):
        data.load("cifar10", "train", tmp_path / "nowhere")
    with pytest.raises(UserError, match="takes no option"):
        data.load("npz", "train", tmp_path, sizee=3)


def test_data_root_from_environment(shared_data, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(shared_data))
    assert len(data.load("cifar10", "test")) == 10000


def test_fingerprint_follows_content():
    a = data.load("digits", "train")
    b = data.load("digits", "train")
    assert a.fingerprint() == b.fingerprint()
    b.x[0, 0, 0, 0] ^= 1
    b._fingerprint = None
    assert a.fingerprint() != b.fingerprint()


def test_download_without_network_is_a_clear_error(tmp_path, monkeypatch):
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", offline)
    with pytest.raises(
        UserError, match=r"could not download CIFAR-10 into .*put cifar10_train.npz"
    ):
        data.load("cifar10", "train", tmp_path, download=True)
    with pytest.raises(UserError, match=r"could not download SVHN test .*put test_32x32.mat there"):
        data.load("svhn", "test", tmp_path, download=True)


def test_subset_is_seeded_ordered_and_keeps_labels():
    x = np.arange(30, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2).repeat(3, 3)
    images = data.ImageSet(x, np.arange(30), "npz", "train", "test")
    a, b, c = data.subset(images, 10, 1), data.subset(images, 10, 1), data.subset(images, 10, 2)
    assert np.array_equal(a.x, b.x) and not np.array_equal(a.x, c.x)
    # labels follow, original order
    assert np.array_equal(a.y, a.x[:, 0, 0, 0]) and np.all(np.diff(a.y) > 0)
    assert a.split == "train[10 of 30, seed 1]" and a.fingerprint() != images.fingerprint()
    assert data.subset(images, None, 0) is images and data.subset(images, 99, 0) is images
