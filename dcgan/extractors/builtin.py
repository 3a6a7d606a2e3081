"""The built-in extractors: the DCGAN discriminator (the paper's recipe, features.py), the
single-layer K-means network of Coates et al. 2011 (kmeans.py), raw pixels, and a user's own
``torch.nn.Module`` given as ``module.path:callable``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import atomic, cache, features
from ..data.images import to_model_input
from ..errors import UserError
from . import kmeans
from .base import Entry, Extractor, Setting


@dataclass
class Discriminator(Extractor):
    """A DCGAN discriminator's features, the paper's way (BN population statistics on the pool,
    every conv layer max-pooled to 4x4): ``features.cached_features`` as it always was."""

    netD: nn.Module | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.netD.variant.name

    def cached_features(
        self, images, pool=None, cache_dir=None, device="cpu", progress=True, log=print
    ):
        f, record = features.cached_features(
            self.netD, images, pool, "pool", cache_dir, device=device, progress=progress
        )
        return f, {**record, "features": "discriminator", "fitted_on": record["bn_stats"]}


def discriminator(netD: nn.Module, name: str = "") -> Discriminator:
    return Discriminator("discriminator", netD=netD, name=name)


def _discriminator_entry(s: dict) -> Discriminator:
    """``--set ckpt=PATH`` (a trained D) or ``--set variant=NAME`` (a random-init one, seed
    ``seed``)."""
    from .. import checkpoint, nets, variants

    if s["ckpt"] and s["variant"]:
        raise UserError("the discriminator takes --set ckpt=PATH or --set variant=NAME, not both")
    if s["ckpt"]:
        _, _, netD, _ = checkpoint.load_models(s["ckpt"], "cpu")
        return discriminator(netD, str(checkpoint.resolve(s["ckpt"])))
    if s["variant"]:
        v = variants.get(s["variant"])
        _, netD = nets.build(v, seed=s["seed"])
        return discriminator(netD, f"{v.name} (random init (seed {s['seed']}))")
    raise UserError(
        "the discriminator's features need --set ckpt=PATH or --set variant=NAME (random init);"
        " `dcgan probe` also takes --ckpt and --random-init"
    )


@dataclass
class KMeans(Extractor):
    """Coates, Lee & Ng 2011's single-layer network (kmeans.py): fitted on the protocol's
    unlabelled training pool, its state (centroids, whitening) cached on the pool's content."""

    fixed_C: str | None = "C = 100 on the mean of the squared hinge losses (100 / n per sample)"

    def anchor(self, protocol: str) -> str:
        k = self.settings["K"]
        paper = "the DCGAN paper's Table 1 quotes Coates & Ng 2011's 1-layer K-means (4800 units)"
        if protocol == "cifar10-full":
            own = PUBLISHED_FULL.get(k)
            said = (
                f"{own}% (Coates, Lee & Ng 2011, K = {k}, all 50,000 training images)"
                if own
                else "Coates, Lee & Ng 2011 publish 77.9% at K = 1600 and 79.6% at K = 4000"
            )
            return f"{said}; {paper} at 80.6%"
        if protocol == "cifar10-400":
            return f"{paper} at 63.7% ± 0.7 (Coates, Lee & Ng 2011 publish no such figure)"
        return ""

    def fitted_key(self, pool) -> dict:
        return {
            "entry": "kmeans",
            "settings": self.settings,
            "pool": pool.fingerprint(),
            "code": CODE["kmeans"],
        }

    def fitted_on(self, pool) -> str:
        return f"{pool.name}/{pool.split} ({len(pool)} images, unlabelled)"

    def encoder(self, pool, cache_dir, device, log):
        s = self.settings
        path = cache.root(cache_dir) / "extractor-state" / f"{cache.key(self.fitted_key(pool))}.npz"
        if not path.exists():
            log(
                f"kmeans: fitting {s['K']} centroids on {s['patches']} patches of"
                f" {self.fitted_on(pool)}, {s['iterations']} iterations"
            )
            state = kmeans.fit(
                pool.x, s["K"], s["patches"], s["iterations"], s["seed"], device=device, log=log
            )
            with atomic.replacing(path) as tmp:
                np.savez(tmp, **state)
        with np.load(path, allow_pickle=False) as z:  # plain arrays only: nothing unpickled
            return kmeans.Encoder(z["centroids"], z["M"], z["P"], device=device)


@dataclass
class Pixels(Extractor):
    """The raw pixels as D sees them (x / 127.5 - 1, channel-major): the floor to beat."""

    def fitted_key(self, pool) -> dict:
        return {"entry": "pixels", "code": CODE["pixels"]}

    def encoder(self, pool, cache_dir, device, log):
        def encode(x_uint8):
            x = torch.as_tensor(np.ascontiguousarray(x_uint8)).to(device)
            return to_model_input(x).flatten(1)

        return encode


@dataclass
class UserModule(Extractor):
    """A user's ``torch.nn.Module`` (``module.path:callable`` returns it): a batch of images in
    [-1, 1] (NCHW float) -> features, flattened. Cached on its weights and its class's code."""

    net: nn.Module | None = None

    @property
    def label(self) -> str:
        return self.entry

    def fitted_key(self, pool) -> dict:
        try:
            code = cache.code_fingerprint(type(self.net))
        except (OSError, TypeError):  # defined where no source can be read: its name
            code = type(self.net).__qualname__
        return {
            "entry": self.entry,
            "weights": features.weights_hash(self.net),
            "code": code,
            "input": CODE["pixels"],
        }

    def encoder(self, pool, cache_dir, device, log):
        net = self.net.to(device).eval()

        @torch.no_grad()
        def encode(x_uint8):
            x = to_model_input(torch.as_tensor(np.ascontiguousarray(x_uint8)).to(device))
            out = net(x)
            if not isinstance(out, torch.Tensor) or out.shape[0] != len(x):
                raise UserError(
                    f"{self.entry} must return a tensor with one row per image; got"
                    f" {type(out).__name__} {tuple(getattr(out, 'shape', ()))}"
                )
            return out.flatten(1)

        return encode


def user_module(spec: str) -> UserModule:
    """``module.path:callable`` -> the extractor of the module it returns (or the module itself
    where the name is an ``nn.Module`` instance)."""
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise UserError(f"--features {spec!r}: a user encoder is given as module.path:callable")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise UserError(f"--features {spec!r}: cannot import {mod_name!r} ({e})") from None
    if not hasattr(module, attr):
        raise UserError(f"--features {spec!r}: {mod_name} has no {attr!r}")
    made = getattr(module, attr)
    net = made
    if callable(made) and not isinstance(made, nn.Module):
        try:
            net = made()
        except Exception as e:  # the user's code: whatever it raises, said in one line
            raise UserError(
                f"--features {spec!r}: calling {attr}() failed: {type(e).__name__}: {e}"
            ) from None
    if not isinstance(net, nn.Module):
        raise UserError(
            f"--features {spec!r}: {attr} must be a torch.nn.Module or return one; got"
            f" {type(net).__name__}"
        )
    return UserModule(spec, net=net)


# Coates, Lee & Ng 2011, full CIFAR-10 test accuracy (%) by K (its Table 1 and abstract)
PUBLISHED_FULL = {1600: 77.9, 4000: 79.6}

CODE = {
    "kmeans": cache.code_fingerprint(kmeans),
    "pixels": cache.code_fingerprint(to_model_input, Pixels),
}

ENTRIES = [
    Entry(
        "discriminator",
        "a DCGAN discriminator, the paper's recipe (4x4 max-pooled conv layers, BN statistics on"
        " the pool), trained (ckpt) or random-init (variant)",
        _discriminator_entry,
        (
            Setting("variant", str, "", "a random-init D of this registered variant"),
            Setting("ckpt", str, "", "a trained D: a ckpt-*.pt file or a run folder"),
            Setting("seed", int, 0, "the random-init D's seed", low=0),
        ),
    ),
    Entry(
        "kmeans",
        "Coates, Lee & Ng 2011's single-layer K-means network (6x6 patches, ZCA, triangle"
        " activation, quadrant sum pooling: 4K features, standardised), fitted on the probe's"
        " unlabelled training pool",
        lambda s: KMeans(
            "kmeans",
            s,
            standardise_eps=kmeans.STANDARDISE_EPS,
            batch_images=4,
            title="1-layer K-means, Coates, Lee & Ng 2011",
        ),
        (
            Setting("K", int, 1600, "centroids (Coates et al. 2011: 77.9% at 1600)", low=1),
            Setting("patches", int, 400_000, "patches sampled for whitening and K-means", low=1),
            Setting("iterations", int, 50, "K-means iterations", low=1),
            Setting("seed", int, 0, "patch positions and centroid initialisation", low=0),
        ),
    ),
    Entry(
        "pixels",
        "raw pixels scaled as D sees them (x / 127.5 - 1; 3072 dims at 32x32): the floor",
        lambda s: Pixels("pixels", s, batch_images=1000),
    ),
]
