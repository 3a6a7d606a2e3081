"""Feature extractors: the K-means recipe's pieces against closed forms, pixels, a user's own
encoder given as module:callable probed end to end, and the registry."""

import json
import sys

import numpy as np
import pytest
import torch

from dcgan import cli, extractors, protocols
from dcgan.data.images import ImageSet
from dcgan.extractors import kmeans
from dcgan.probing import prepare


def _images(n=6, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_contrast_normalisation_is_the_closed_form():
    p = torch.from_numpy(np.random.default_rng(0).normal(100, 40, (50, 108))).float()
    out = kmeans.normalise(p.clone())
    var = p.double().var(1, unbiased=True)  # MATLAB's var divides by n - 1
    expected = (p.double() - p.double().mean(1, keepdim=True)) / torch.sqrt(var + 10)[:, None]
    assert torch.allclose(out.double(), expected, atol=1e-4)
    assert torch.allclose(out.mean(1), torch.zeros(50), atol=1e-4)
    # the unbiased variance of a normalised patch is var / (var + 10)
    assert torch.allclose(out.double().var(1), var / (var + 10), rtol=1e-4)


def test_whitening_makes_the_patch_covariance_nearly_identity():
    rng = np.random.default_rng(1)
    # strongly correlated coordinates whose variances (9 to 900) dwarf the 0.1 offset
    Q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    mix = np.diag(np.linspace(3, 30, 20)) @ Q
    p = torch.from_numpy(rng.normal(size=(20000, 20)) @ mix + 3).float()
    M, P = kmeans.zca(p, eps=0.1)
    w = ((p - M) @ P).double()
    cov = torch.cov(w.T)
    assert torch.allclose(w.mean(0), torch.zeros(20, dtype=torch.float64), atol=1e-3)
    assert torch.allclose(cov, torch.eye(20, dtype=torch.float64), atol=0.02)
    # exactly: cov((x - M) P) = V diag(D / (D + eps)) V', P symmetric (ZCA, not PCA)
    D, V = torch.linalg.eigh(torch.cov(p.double().T))
    assert torch.allclose(cov, V @ torch.diag(D / (D + 0.1)) @ V.T, atol=1e-4)
    assert torch.allclose(P, P.T, atol=1e-5)


def test_triangle_activation_is_the_mean_distance_minus_each_distance_clipped():
    z = torch.tensor([[1.0, 2.0, 6.0], [3.0, 3.0, 3.0]])
    out = kmeans.triangle(z.clone())
    assert torch.equal(out, torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))


def test_quadrant_pooling_sums_each_quadrant_split_at_14():
    assert kmeans.quadrant_split(27) == 14  # MATLAB's round(13.5)
    f = torch.rand(2, 27 * 27, 5)
    out = kmeans.quadrant_sums(f, 27)
    assert out.shape == (2, 20)
    g = f.view(2, 27, 27, 5)
    assert torch.allclose(out[:, :5], g[:, :14, :14].sum((1, 2)))  # top left
    assert torch.allclose(out[:, 5:10], g[:, 14:, :14].sum((1, 2)))  # bottom left
    assert torch.allclose(out[:, 10:15], g[:, :14, 14:].sum((1, 2)))  # top right
    assert torch.allclose(out[:, 15:], g[:, 14:, 14:].sum((1, 2)))
    # the four quadrants cover every position once
    assert torch.allclose(out.view(2, 4, 5).sum(1), f.sum(1), rtol=1e-5)


def test_patches_are_sampled_from_the_cycled_pool_at_their_positions():
    x = _images(3)
    p = kmeans.sample_patches(x, 7, seed=0)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 27, 7), rng.integers(0, 27, 7)
    for i in range(7):
        block = x[i % 3, rows[i] : rows[i] + 6, cols[i] : cols[i] + 6]  # (6, 6, 3)
        assert torch.equal(p[i], torch.from_numpy(block).permute(2, 0, 1).reshape(-1).float())


def test_the_encoder_matches_a_direct_computation():
    x = _images(2)
    rng = np.random.default_rng(2)
    C = rng.normal(size=(7, 108)).astype(np.float32)
    M = rng.normal(size=108).astype(np.float32) * 0.1
    P = np.eye(108, dtype=np.float32) + 0.01 * rng.normal(size=(108, 108)).astype(np.float32)
    out = kmeans.Encoder(C, M, P)(x)
    assert out.shape == (2, 28)
    # by hand, one position at a time, in float64
    for n in range(2):
        acts = np.zeros((27, 27, 7))
        for r in range(27):
            for c in range(27):
                patch = x[n, r : r + 6, c : c + 6].transpose(2, 0, 1).reshape(-1).astype(float)
                patch = (patch - patch.mean()) / np.sqrt(patch.var(ddof=1) + 10)
                z = np.linalg.norm((patch - M) @ P - C, axis=1)
                acts[r, c] = np.maximum(0, z.mean() - z)
        want = np.concatenate(
            [
                acts[:14, :14].sum((0, 1)),
                acts[14:, :14].sum((0, 1)),
                acts[:14, 14:].sum((0, 1)),
                acts[14:, 14:].sum((0, 1)),
            ]
        )
        np.testing.assert_allclose(out[n].numpy(), want, rtol=2e-3, atol=2e-2)


def test_lloyd_matches_scikit_learn_where_no_cluster_empties():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 5)) * 10
    X = np.concatenate([c + rng.normal(size=(200, 5)) for c in centres]).astype(np.float32)
    ours = kmeans.lloyd(torch.from_numpy(X), 4, iterations=20, seed=0).numpy()
    # the same initialisation as ours (randn * 0.1), then scikit-learn's Lloyd
    init = torch.randn(4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = KMeans(4, init=(init * 0.1).numpy(), n_init=1, max_iter=20, tol=0, algorithm="lloyd")
    theirs = ref.fit(X.astype(np.float64)).cluster_centers_
    assert np.all(np.bincount(ref.labels_, minlength=4) > 0)
    np.testing.assert_allclose(
        ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)], rtol=1e-4, atol=1e-4
    )


def test_lloyd_zeroes_an_empty_cluster_as_the_authors_code():
    # three points in one tight group far from the origin, three centroids near it: the one
    # whose direction scores highest takes every point, the other two end empty and are zeroed
    X = torch.tensor([[10.0, 0.0], [10.0, 1.0], [11.0, 0.0]])
    C = kmeans.lloyd(X, 3, iterations=3, seed=0)
    used = C.abs().sum(1) > 0
    assert int(used.sum()) == 1
    assert torch.allclose(C[used][0], X.mean(0))
    assert torch.equal(C[~used], torch.zeros(2, 2))


def test_the_kmeans_extractor_fits_on_the_pool_and_caches(tmp_path):
    pool = ImageSet(_images(20, seed=4), np.arange(20) % 2, "toy", "pool", "test")
    test = ImageSet(_images(5, seed=5), np.arange(5) % 2, "toy", "test", "test")
    ex = extractors.resolve("kmeans", ["K=6", "patches=2000", "iterations=3"])
    assert ex.label == "kmeans[K=6,patches=2000,iterations=3]"
    f, rec = ex.cached_features(test, pool, tmp_path, progress=False, log=lambda s: None)
    assert f.shape == (5, 24) and not rec["cached"]
    again, rec2 = ex.cached_features(test, pool, tmp_path, progress=False)
    assert rec2["cached"] and np.array_equal(f, again)
    # another pool is another fitted state: other features
    other = ImageSet(_images(20, seed=6), None, "toy", "pool2", "test")
    f3, _ = ex.cached_features(test, other, tmp_path, progress=False, log=lambda s: None)
    assert not np.allclose(f, f3)


def test_pixels_are_what_the_discriminator_sees(tmp_path):
    x = _images(3)
    images = ImageSet(x, None, "toy", "train", "test")
    f, rec = extractors.resolve("pixels").cached_features(images, None, tmp_path, progress=False)
    assert rec["feature_dim"] == 3072
    want = (x.transpose(0, 3, 1, 2).reshape(3, -1) / 127.5 - 1).astype(np.float32)
    np.testing.assert_allclose(f, want, atol=1e-6)


def test_standardisation_uses_the_pool_rows_only():
    rng = np.random.default_rng(7)
    f_train = rng.normal(5, 3, (30, 4)).astype(np.float32)
    f_test = rng.normal(5, 3, (10, 4)).astype(np.float32)
    pool = f_train[10:].astype(np.float64)
    mean, sd = pool.mean(0), np.sqrt(pool.var(0, ddof=1) + 0.01)
    want_test = (f_test - mean) / sd
    prepare.standardise(f_train, f_test, 10, 0.01)
    np.testing.assert_allclose(f_train[10:].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(f_test, want_test, rtol=1e-5, atol=1e-5)


ENCODER = '''
import torch
from torch import nn


class TinyEncoder(nn.Module):
    """A user's own network: 3x32x32 in [-1, 1] -> 12 features."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 4, stride=4)

    def forward(self, x):
        assert x.min() >= -1 and x.max() <= 1, "images reach the module in [-1, 1]"
        return nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 2).flatten(1)


def make():
    return TinyEncoder()
'''


def test_a_user_encoder_given_as_module_callable_is_probed(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_encoder.py").write_text(ENCODER)
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = [
        "probe",
        "--features",
        "my_encoder:make",
        "--protocol",
        "digits-10",
        "--out-dir",
        str(tmp_path / "rows"),
        "--no-progress",
        "--json",
    ]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    measured = [r for r in out["rows"] if r["source"] == "measured"]
    assert len(measured) == 1
    row = measured[0]
    assert row["variant"] == "my_encoder:make" and row["features"] == "my_encoder:make"
    assert row["feature_dim"] == 12 and row["test_draws"] == 10
    # 10 digit classes from 12 random conv features: far above chance, far below perfect
    assert 20 < row["value"] < 95
    assert not any(r["source"].startswith("measured (control)") for r in out["rows"])
    # the same encoder again reads its cached features and fits: the same figure
    assert cli.main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["value"] for r in again["rows"]] == [r["value"] for r in out["rows"]]
    sys.modules.pop("my_encoder", None)


@pytest.mark.parametrize("name", extractors.names())
def test_every_registered_extractor_is_listed_with_its_settings(name):
    listed = {e["name"]: e for e in extractors.listing()}
    assert len(listed[name]["settings"]) == len(extractors.get(name).settings)
    with pytest.raises(ValueError, match="registered twice"):
        extractors.register(extractors.get(name))


def test_exported_features_are_the_ones_the_probe_fits(tmp_path):
    settings = ["K=4", "patches=2000", "iterations=2"]
    out = tmp_path / "kmeans-test.npy"
    argv = ["features", "--features", "kmeans", "--dataset", "digits", "--split", "test"]
    argv += [x for s in settings for x in ("--set", s)] + ["--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    exported = np.load(out)
    assert exported.shape == (297, 16)
    # the probe's own test features for the digits protocol: fitted on the same pool and
    # standardised over it
    prepared = prepare.prepare(
        extractors.resolve("kmeans", settings),
        protocols.get("digits-50"),
        None,
        "cpu",
        None,
        False,
        False,
        lambda s: None,
    )
    np.testing.assert_allclose(exported, prepared.f_test, rtol=1e-5, atol=1e-5)
    pool = prepared.f_train[prepared.n_val :]
    np.testing.assert_allclose(pool.mean(0), 0, atol=1e-4)
