import os
from pathlib import Path

import pytest

from dcgan import variants

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    return Path(os.environ.get("DCGAN_DATA_ROOT") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $DCGAN_DATA_ROOT): the real images the tests read, never copied here."""
    path = shared_data_dir()
    if not (path / "cifar10_test.npz").exists():
        pytest.skip(f"real test data not found at {path}; set DCGAN_DATA_ROOT to the shared data folder")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    # preprocessing caches go to the test's own folder, never the user's ~/.cache
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))


def tiny(**overrides) -> variants.Variant:
    """A few-thousand-parameter dcgan32 for fast CPU tests."""
    return variants.get("dcgan32", **{"ngf": 8, "ndf": 8, "batch_size": 32, **overrides})
