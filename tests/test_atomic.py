import numpy as np
import pytest

from dcgan import atomic


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path):
    path = tmp_path / "sub" / "rows.npy"
    with atomic.replacing(path) as tmp:
        np.save(tmp, np.arange(3))
    assert np.array_equal(np.load(path), np.arange(3))
    with pytest.raises(KeyboardInterrupt), atomic.replacing(path) as tmp:
        np.save(tmp, np.arange(5))
        raise KeyboardInterrupt  # interrupted after writing, before the rename
    assert np.array_equal(np.load(path), np.arange(3))
    assert sorted(p.name for p in path.parent.iterdir()) == ["rows.npy"]


def test_the_temporary_keeps_the_extension_numpy_would_append(tmp_path):
    with atomic.replacing(tmp_path / "state.npz") as tmp:
        np.savez(tmp, a=np.ones(2))
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path
    assert np.array_equal(np.load(tmp_path / "state.npz")["a"], np.ones(2))
    assert atomic.write_text(tmp_path / "r.json", "{}").read_text() == "{}"
