import json

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


def test_a_finished_record_is_read_back_and_a_torn_one_computed_again(tmp_path):
    path, calls = tmp_path / "cells" / "a.json", []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    assert atomic.json_record(path, compute) == ({"value": 1}, False)
    assert atomic.json_record(path, compute) == ({"value": 1}, True) and len(calls) == 1
    path.write_text('{"value": ')  # torn: a copy cut short, or a disk that filled
    assert atomic.json_record(path, compute) == ({"value": 2}, False)
    assert json.loads(path.read_text()) == {"value": 2}
    with pytest.raises(KeyboardInterrupt):  # interrupted while computing: nothing is written
        atomic.json_record(tmp_path / "b.json", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    assert not (tmp_path / "b.json").exists()
