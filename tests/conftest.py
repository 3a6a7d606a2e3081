import os
from pathlib import Path
from unittest import mock

import pytest
import torch

from dcgan import variants

REPO = Path(__file__).resolve().parent.parent


# what the tests read from ../shared/data (never copied into the repository)
SHARED_FILES = (
    "cifar10_train.npz",
    "cifar10_test.npz",
    "imagenet_sample.npz",
    "cifar10_train_first200_lossless.npz",
    "orl_faces.npz",
    "released/svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb",
)


def shared_data_dir() -> Path:
    return Path(os.environ.get("DCGAN_DATA_ROOT") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $DCGAN_DATA_ROOT): the real images the tests read, never copied here."""
    return require_shared(shared_data_dir())


def require_shared(path: Path) -> Path:
    """``path`` if it holds every file the tests read; else a skip naming the missing files, or
    under CI (CI=true) a failure: there a quiet skip would pass with a quarter of the suite
    unrun."""
    missing = [name for name in SHARED_FILES if not (path / name).exists()]
    if missing:
        why = (
            f"real test data not found: {', '.join(str(path / m) for m in missing)};"
            " set DCGAN_DATA_ROOT to the shared data folder"
        )
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    # preprocessing caches go to the test's own folder, never the user's ~/.cache
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))


# the tests' model: a few-thousand-parameter dcgan32, fast on a CPU
TINY_FIELDS = {"ngf": 8, "ndf": 8, "batch_size": 32}
# the same model on a command line (train, throughput)
TINY_MODEL = ["--variant", "dcgan32"] + [
    w for k, v in TINY_FIELDS.items() for w in ("--set", f"{k}={v}")
]


def tiny(**overrides) -> variants.Variant:
    """The tests' model as a Variant."""
    return variants.get("dcgan32", **{**TINY_FIELDS, **overrides})


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """One briefly trained tiny model for every test that only reads a checkpoint: 20 steps on
    the digits, so its BN running statistics are real."""
    from dcgan import checkpoint, cli

    out = tmp_path_factory.mktemp("tiny-run")
    code = cli.main(
        ["train", *TINY_MODEL, "--steps", "20", "--out", str(out), "--device", "cpu"]
        + ["--no-progress"]
    )
    assert code == 0
    return checkpoint.latest(out)


@pytest.fixture(scope="session")
def random_inception(tmp_path_factory):
    """torch-fidelity's Inception-v3, randomly initialised, saved in the standard file's format."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    with (
        mock.patch(
            "torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url",
            return_value=None,
        ),
        mock.patch.object(
            FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None
        ),
    ):
        torch.manual_seed(0)
        fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    # variance-preserving weights, so features neither vanish nor blow up over the 90-odd layers
    for m in fe.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0.0, m.in_features**-0.5)
    torch.save(fe.state_dict(), path)
    return path


def argv(line: str, *values) -> list[str]:
    """A command line's words: ``line`` split on spaces; in each word, ``{}`` is filled with the
    next of ``values`` (as text, so a path with a space stays one word), and a word ``{*}`` is
    replaced by the next value's items (a list of words)."""
    values = list(values)
    words: list[str] = []
    for word in line.split():
        if word == "{*}":
            words += [str(w) for w in values.pop(0)]
            continue
        while "{}" in word:
            word = word.replace("{}", str(values.pop(0)), 1)
        words.append(word)
    if values:
        raise ValueError(f"{len(values)} values left over for {line!r}")
    return words
