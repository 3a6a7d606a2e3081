import numpy as np
import pytest
import torch

from dcgan import svm
from dcgan.svm import newton_gram, newton_primal


def blobs(n=240, d=400, k=4, sep=4.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * sep / np.sqrt(d)
    y = np.arange(n) % k
    X = centres[y] + rng.standard_normal((n, d)) * 0.3 / np.sqrt(d) * 10
    return X.astype(np.float32), y


def test_separable_blobs_are_classified_almost_perfectly():
    X, y = blobs()
    model = svm.fit_gram(X, y, Cs=[1e-2])[0]
    # the same centres: draw held-out points around them
    rng = np.random.default_rng(5)
    held = X + rng.standard_normal(X.shape).astype(np.float32) * 0.01
    assert model.accuracy(X, y) == 1.0 and model.accuracy(held, y) >= 0.99


def test_shuffled_labels_give_chance_on_held_out_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 300)).astype(np.float32)
    y = rng.integers(0, 4, 400)
    Xh, yh = rng.standard_normal((2000, 300)).astype(np.float32), rng.integers(0, 4, 2000)
    model = svm.fit_gram(X, y, Cs=[1e-2])[0]
    assert model.accuracy(X, y) > 0.9  # it can memorise the training labels
    assert abs(model.accuracy(Xh, yh) - 0.25) < 0.05  # and learns nothing that generalises


@pytest.mark.parametrize("k", [2, 3, 10])
def test_objective_equals_linearsvc_across_the_paper_grid(k):
    rng = np.random.default_rng(k)
    n, d = 150, 600
    y = np.arange(n) % k
    # non-negative, like pooled LeakyReLU features
    X = np.abs(rng.standard_normal((n, d))).astype(np.float32)
    X[np.arange(n), y] += 2.0
    ours = svm.fit_gram(X, y)
    ref = svm.fit_sklearn(X, y)
    for a, b in zip(ours, ref, strict=True):
        assert a.C == b.C and a.W.shape == b.W.shape == (1 if k == 2 else k, d)
        assert a.info["converged"] and b.info["converged"]
        # ours solves exactly: never above liblinear's objective, and within 1e-5 of it
        assert np.all(a.objective <= b.objective * (1 + 1e-6))
        np.testing.assert_allclose(a.objective, b.objective, rtol=1e-5)
        # and its reported objective is the true one of its weights
        np.testing.assert_allclose(
            a.objective, svm.primal_objective(X, y, a.W, a.b, a.C), rtol=1e-5
        )
        assert np.mean(a.predict(X) == b.predict(X)) > 0.99


def test_the_intercept_is_regularised_like_a_weight():
    # one feature that is constant: the intercept and that weight are interchangeable, so the
    # L2 penalty splits them evenly; an unregularised intercept would take it all
    X = np.ones((40, 1), np.float32)
    y = np.array([0] * 30 + [1] * 10)
    m = svm.fit_gram(X, y, Cs=[1.0])[0]
    assert np.isclose(m.W[0, 0], m.b[0], rtol=1e-5)  # W is float32
    ref = svm.fit_sklearn(X, y, Cs=[1.0])[0]
    assert np.isclose(ref.W[0, 0], ref.b[0], rtol=1e-2)


def test_one_class_is_an_error():
    with pytest.raises(ValueError, match="at least two classes"):
        svm.fit_gram(np.zeros((5, 3), np.float32), np.zeros(5, int))


def test_primal_newton_cg_matches_the_exact_solver_on_many_samples(monkeypatch):
    rng = np.random.default_rng(0)
    n, d, k = 900, 60, 5  # more samples than features: the full-data protocol's shape
    y = np.arange(n) % k
    X = np.abs(rng.standard_normal((n, d))).astype(np.float32)
    X[np.arange(n), y] += 1.0
    primal = svm.fit_primal(X, y)
    exact = svm.fit_gram(X, y)
    ref = svm.fit_sklearn(X, y)
    for p, e, r in zip(primal, exact, ref, strict=True):
        assert p.info["converged"]
        np.testing.assert_allclose(p.objective, e.objective, rtol=1e-5)
        np.testing.assert_allclose(r.objective, e.objective, rtol=1e-4)
        assert np.mean(p.predict(X) == e.predict(X)) > 0.995
    assert svm.fit_ours(X, y, [1e-3])[0].solver == "ours"  # 900 samples: the exact solver
    monkeypatch.setattr(svm, "GRAM_MAX_N", 500)
    assert svm.fit_ours(X, y, [1e-3])[0].solver == "ours-primal"
    assert svm.fit_ours(X[:50], y[:50], [1e-3])[0].solver == "ours"


def test_primal_newton_cg_converges_where_float32_vectors_stall():
    # Like the discriminator features: positive, sharing one large mean, with a slowly decaying
    # spectrum below it, so 2C lambda_max of X~'X~ is ~1e7 at the grid's large-C end. With float32
    # CG vectors the rounding (1e-7 relative) of the huge mean-direction terms swamps the small
    # components CG is solving for: on CIFAR-10 features CG made no progress in hundreds of steps,
    # and here it needed 792 CG steps against 234 with float64 vectors (same Newton steps).
    rng = np.random.default_rng(3)
    n, d, k = 1500, 400, 4
    y = np.arange(n) % k
    spread = 10 * np.arange(1, d + 1) ** -0.5
    X = (
        (50 + rng.standard_normal((n, d)) * spread + 0.5 * (y[:, None] == np.arange(d) % k))
        .clip(0)
        .astype(np.float32)
    )
    C = 1e-2
    assert 2 * C * svm.top_eigen(torch.from_numpy(X), 1)[0].item() > 1e7
    primal = svm.fit_primal(X, y, [C], rank=8, max_cg=200)[0]
    assert primal.info["converged"] and primal.info["cg_steps"] < 400
    exact = svm.fit_gram(X, y, [C])[0]
    # each reports the objective of the weights it returns (float64 on X), and ours is as low
    np.testing.assert_allclose(
        primal.objective, svm.primal_objective(X, y, primal.W, primal.b, C), rtol=1e-12
    )
    np.testing.assert_allclose(
        exact.objective, svm.primal_objective(X, y, exact.W, exact.b, C), rtol=1e-12
    )
    assert np.all(primal.objective <= exact.objective * (1 + 1e-5))
    # the Gram Newton's own figure, from the float32 K, is off at this conditioning
    assert np.max(np.abs(np.asarray(exact.info["objective_from_K"]) / exact.objective - 1)) > 1e-4


def test_blocked_gram_is_the_full_product_plus_one():
    rng = np.random.default_rng(1)
    X = torch.from_numpy(rng.standard_normal((37, 11)).astype(np.float32))
    for blocks in (1, 3, 4):
        torch.testing.assert_close(svm.gram(X, blocks=blocks), X @ X.T + 1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("C, float32_factor_fails", [(1e-2, False), (10.0, False), (1e-2, True)])
def test_mixed_precision_ridge_solve_reaches_float64_accuracy(C, float32_factor_fails, monkeypatch):
    # a Gram matrix of positive features (one dominant eigenvalue, as real features give), rank
    # 40 < 150: with C = 10 the ridge is small and the system ill-conditioned (cond ~1e7), so the
    # float32 factor alone is far off; with a failing float32 factor the float64 path takes over.
    # Either way the answer is the float64 solve's.
    rng = np.random.default_rng(2)
    X = torch.from_numpy(np.abs(rng.standard_normal((300, 40))).astype(np.float32) * 10)
    K32 = svm.gram(X)
    K64 = K32.double()
    idx = torch.arange(0, 300, 2)
    t = torch.from_numpy(rng.choice([-1.0, 1.0], len(idx)))
    if float32_factor_fails:
        real = torch.linalg.cholesky_ex
        monkeypatch.setattr(
            torch.linalg,
            "cholesky_ex",
            lambda A: (real(A)[0], torch.tensor(1) if A.dtype == torch.float32 else real(A)[1]),
        )
    x, Kz = newton_gram._Ridge(K32, K64, C).solve(idx, t)
    z = torch.zeros(300, dtype=torch.float64)
    z[idx] = x
    if float32_factor_fails:
        assert Kz is None  # the float64 path
    if C == 1e-2 and not float32_factor_fails:
        assert Kz is not None  # a well-conditioned system stays on the fast path
    if Kz is not None:  # the margins handed back are those of the solution
        assert torch.allclose(Kz, K64 @ z, rtol=1e-12, atol=1e-9)
    A = K64[idx][:, idx] + torch.eye(len(idx), dtype=torch.float64) / (2 * C)
    exact = torch.linalg.solve(A, t)
    torch.testing.assert_close(x, exact, rtol=1e-7, atol=1e-9 * float(exact.abs().max()))
    assert float(torch.linalg.norm(A @ x - t)) <= 1e-8 * float(torch.linalg.norm(t))


def test_batched_accuracies_equal_each_models_own():
    X, y = blobs(k=3)
    models = svm.fit_gram(X, y, Cs=[1e-4, 1e-2])
    rng = np.random.default_rng(1)
    Xh = X + rng.standard_normal(X.shape).astype(np.float32)
    assert np.array_equal(svm.accuracies(models, Xh, y), [m.accuracy(Xh, y) for m in models])
    # one problem per model: the binary branch
    two = svm.fit_gram(X, (y == 0).astype(int), Cs=[1e-3, 1e-1])
    assert np.array_equal(svm.accuracies(two, Xh, y == 0), [m.accuracy(Xh, y == 0) for m in two])


def test_an_interrupted_primal_fit_continues_from_its_saved_state(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n, d, k = 900, 60, 5
    y = np.arange(n) % k
    X = np.abs(rng.standard_normal((n, d))).astype(np.float32)
    X[np.arange(n), y] += 1.0
    Cs = [1e-3, 1e-2, 1e-1]
    whole = svm.fit_primal(X, y, Cs)
    steps = [m.info["newton_iterations"] for m in whole]
    assert steps[1] > 1  # the interruption below falls inside the second C
    state = tmp_path / "fit.npz"
    real, calls = newton_primal._line_search, []

    def stop_in_the_second_C(*a):
        calls.append(1)
        if len(calls) == steps[0] + 2:  # the second Newton step of the second C: mid-C
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(newton_primal, "_line_search", stop_in_the_second_C)
    with pytest.raises(KeyboardInterrupt):
        svm.fit_primal(X, y, Cs, state=state)
    monkeypatch.setattr(newton_primal, "_line_search", real)
    assert state.exists()
    resumed = svm.fit_primal(X, y, Cs, state=state)
    for w, r in zip(whole, resumed, strict=True):
        np.testing.assert_allclose(r.objective, w.objective, rtol=1e-9)
        np.testing.assert_allclose(r.W, w.W, rtol=1e-5, atol=1e-7)
        assert r.info["newton_iterations"] == w.info["newton_iterations"]
    # a state for another problem (another grid) is not used
    other = svm.fit_primal(X, y, [1e-2], state=state)
    np.testing.assert_allclose(
        other[0].objective, svm.fit_primal(X, y, [1e-2])[0].objective, rtol=1e-9
    )
    # nor a torn one
    state.write_bytes(b"PK\x03\x04 torn")
    np.testing.assert_allclose(
        svm.fit_primal(X, y, Cs, state=state)[-1].objective, whole[-1].objective, rtol=1e-9
    )
