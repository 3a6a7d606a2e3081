"""The Inception weights every generative metric rests on, and the safety around what
torch-fidelity reads from disk (PROTOCOL.md §7).

- The weights are checked against the SHA-256 of the standard file; only that file's numbers are
  called IS / FID / KID, anything else is labelled a non-standard feature distance.
  torch-fidelity unpickles the file without restriction, so it is first loaded here with
  ``weights_only=True``: a file that passes holds only tensors and plain containers, with the
  names and shapes torch-fidelity's Inception-v3 loads.
- torch-fidelity reads its feature and statistics cache with ``torch.load(weights_only=False)``,
  so a file planted in that cache would run code. ``verify_cache`` checks every cache file
  without unpickling it (``torch.serialization.get_unsafe_globals_in_checkpoint`` reads the
  pickle's opcodes): only numpy arrays (what torch-fidelity writes there) and tensors pass.
- Offline, missing weights are a one-line error naming the file and where to put it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError

# torch-fidelity's Inception-v3 (the TF 2015-12-05 graph FID was defined with), as it downloads it
STANDARD_INCEPTION = {
    "file": "weights-inception-2015-12-05-6726825d.pth",
    "url": (
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth"
    ),
    "sha256": "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    "bytes": 95628359,
}
WEIGHTS_ENV = "DCGAN_INCEPTION_WEIGHTS"


@dataclass(frozen=True)
class InceptionWeights:
    path: Path
    sha256: str
    standard: bool

    def note(self) -> str | None:
        """A line for a person where these are not the standard weights: then the numbers are
        feature distances of another network, never to be called FID, IS or KID."""
        if self.standard:
            return None
        return (
            f"note: {self.path} (sha256 {self.sha256[:16]}...) is not the standard Inception file"
            f" ({STANDARD_INCEPTION['sha256'][:16]}...): these are non-standard feature"
            " distances, not FID/IS/KID"
        )


def hub_path() -> Path:
    """Where torch-fidelity's own download puts (and looks for) the standard weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / STANDARD_INCEPTION["file"]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_weights(
    path: str | os.PathLike | None = None, download: bool = False
) -> InceptionWeights:
    """The Inception weights to use: ``path``, else $DCGAN_INCEPTION_WEIGHTS, else torch-fidelity's
    download location (fetched there with ``download``)."""
    explicit = path or os.environ.get(WEIGHTS_ENV)
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            source = "--inception-weights" if path else f"${WEIGHTS_ENV}"
            raise UserError(
                f"Inception weights {p} (from {source}) do not exist; give the path of"
                f" {STANDARD_INCEPTION['file']}"
            )
    else:
        p = hub_path()
        if not p.is_file():
            if not download:
                raise UserError(
                    f"Inception weights missing: {p} does not exist. Put"
                    f" {STANDARD_INCEPTION['file']} "
                    f"(sha256 {STANDARD_INCEPTION['sha256'][:16]}..., from"
                    f" {STANDARD_INCEPTION['url']}) there, "
                    f"or pass --inception-weights PATH (or set ${WEIGHTS_ENV}), or pass --download"
                    " where there is internet"
                )
            _download(p)
    _check_loadable(p)
    sha = sha256_of(p)
    return InceptionWeights(p, sha, sha == STANDARD_INCEPTION["sha256"])


def _download(dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(
            STANDARD_INCEPTION["url"], str(dest), hash_prefix=STANDARD_INCEPTION["sha256"][:8]
        )
    except Exception as e:  # network errors come in many types; all mean the same to the user
        raise UserError(
            f"could not download the Inception weights from {STANDARD_INCEPTION['url']}"
            f" ({type(e).__name__}: {e}); "
            f"put {STANDARD_INCEPTION['file']} at {dest} by hand"
        ) from None


def _check_loadable(path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(
            f"Inception weights {path} are not a plain state dict loadable with weights_only=True "
            f"({type(e).__name__}); refusing to unpickle them"
        ) from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"Inception weights {path} are not a state dict of tensors")
    # every tensor torch-fidelity's Inception-v3 loads, by name and shape: anything else fails
    # later, after the samples are drawn, in a page-long load_state_dict error
    expected = inception_shapes()
    # torch fills a BatchNorm's missing step counter itself (older files lack it)
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in expected]
    misshapen = [
        f"{k} {tuple(state[k].shape)} (expected {expected[k]})"
        for k in expected
        if k in state and tuple(state[k].shape) != expected[k]
    ]
    wrong = [
        f"{len(found)} {what}: {', '.join(found[:2])}{', ...' if len(found) > 2 else ''}"
        for what, found in (("missing", missing), ("unexpected", extra), ("misshapen", misshapen))
        if found
    ]
    if wrong:
        raise UserError(
            f"Inception weights {path} do not fit torch-fidelity's Inception-v3"
            f" ({'; '.join(wrong)}); use {STANDARD_INCEPTION['file']}"
        )


@functools.cache
def inception_shapes() -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the state dict of the installed torch-fidelity's
    Inception-v3. The network is built on the meta device (no memory, no weights) with its
    weight loading switched off: its constructor would otherwise download or unpickle them."""
    from unittest import mock

    from torch_fidelity import feature_extractor_inceptionv3 as fe

    with (
        torch.device("meta"),
        mock.patch.object(fe, "load_state_dict_from_url", return_value={}),
        mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None),
    ):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


# What torch-fidelity's cache files may reference beyond tensors: numpy arrays and their dtypes
# (its FID statistics are numpy arrays). Rebuilding an array runs no code of the file's choosing.
_CACHE_GLOBALS = {
    "numpy.ndarray",
    "numpy.dtype",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray._reconstruct",
}


def verify_cache(cache_root: Path) -> None:
    """Refuse to let torch-fidelity unpickle a cache file that holds anything but tensors and
    numpy arrays; the check reads the pickle's opcodes and executes nothing."""
    if not Path(cache_root).is_dir():
        return
    for path in sorted(Path(cache_root).rglob("*.pt")):
        try:
            needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception as e:  # not a torch.save file at all (truncated, planted)
            needed = {f"unreadable: {type(e).__name__}"}
        extra = sorted(
            g for g in needed if g not in _CACHE_GLOBALS and not g.startswith("numpy.dtypes.")
        )
        if extra:
            raise UserError(
                f"fidelity cache file {path} holds more than arrays ({', '.join(extra)}), so it"
                " was not written by "
                "torch-fidelity for dcgan-bench and will not be loaded; delete it (or"
                f" {cache_root}) and run again"
            )
