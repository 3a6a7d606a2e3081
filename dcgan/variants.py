"""The registry of named variants (variant_type.py says what a variant is), and the catalogue:
the paper's models, its architecture rules undone one at a time, and training choices since.

Adding a variant is one ``register(...)`` call, its group declared with it; on the classic
dcgan32, one ``ablation(name, description, **fields)`` or ``choice(...)`` line. Tests and suites
loop over ``names()`` and ``in_group()``, so a new variant is covered with no other edit.
"""

from __future__ import annotations

import dataclasses

from .errors import UserError
from .registry import add_entry

# what the rest of the package reads through this module: the type and its readers
from .variant_type import (  # noqa: F401
    CHOICES,
    REGISTERED,
    SAMPLING_ONLY_FIELDS,
    Variant,
    field_names,
    from_dict,
    parse_overrides,
    same_training,
)

_REGISTRY: dict[str, Variant] = {}


# what a variant is for, declared with it (the suites read it): one of the paper's models, one
# of the paper's architecture rules undone (the ablations suite), or a training choice since
# the paper (the choices suite)
GROUPS = {
    "model": "the paper's models and the classic DCGAN",
    "ablation": "one of the paper's architecture rules undone, on dcgan32",
    "choice": "a training choice since the paper (loss, regulariser, auxiliary task), on dcgan32",
}
_GROUP: dict[str, str] = {}


def register(variant: Variant, group: str = "model") -> Variant:
    if group not in GROUPS:
        raise ValueError(
            f"variant {variant.name!r}: unknown group {group!r}; groups: {list(GROUPS)}"
        )
    add_entry(_REGISTRY, "variant", variant)
    _GROUP[variant.name] = group
    return variant


def group(name: str) -> str:
    return _GROUP[get(name).name]


def in_group(group: str) -> tuple[str, ...]:
    """The variants registered in ``group``, in their order of registration (read when a suite
    is built, so a variant registered later joins its group's suite)."""
    return tuple(n for n in names() if _GROUP[n] == group)


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str, **overrides) -> Variant:
    """The registered variant ``name``, with ``overrides`` applied (e.g. ``ngf=16``)."""
    if name not in _REGISTRY:
        raise UserError(f"unknown variant {name!r}; registered variants: {', '.join(names())}")
    unknown = sorted(set(overrides) - set(field_names()) - {"name"})
    if unknown:
        raise UserError(
            f"unknown variant field(s) {', '.join(unknown)}; fields: {', '.join(field_names()[1:])}"
        )
    return dataclasses.replace(_REGISTRY[name], **overrides)


# --- the paper's models -----------------------------------------------------------------------

# PROTOCOL.md §2: the released ImageNet-1k 32x32 model (Table 1's feature extractor).
register(
    Variant(
        name="imagenet32",
        description="released ImageNet-1k 32x32 model: D 3x3 convs 128-128-256-256-512-512, G"
        " z=256 (Table 1)",
        nz=256,
        ngf=128,
        ndf=128,
        kernel=3,
        convs_per_stage=2,
        g_input="linear",
        d_output="linear",
        bn_eps=1e-8,  # the released model was trained with Theano's BN epsilon
        updates="alternate",  # the authors' loop (PROTOCOL.md §1)
    )
)
# PROTOCOL.md §3: the released SVHN model (Table 2). Its name says Gaussian z, lr 0.0005, batch 64.
register(
    Variant(
        name="svhn32",
        description="released SVHN model: D 5x5 stride-2 convs 64-128-256, G z=100 Gaussian (Table"
        " 2)",
        nz=100,
        ngf=64,
        ndf=64,
        kernel=5,
        g_input="linear",
        d_output="linear",
        z_dist="normal",
        bn_eps=1e-8,
        lr=5e-4,
        batch_size=64,
        updates="alternate",
    )
)
# The classic DCGAN of pytorch/examples, and its 32x32 counterpart.
register(
    Variant(
        name="dcgan64",
        description="classic 64x64 DCGAN (pytorch/examples): 4x4 kernels, ngf=ndf=64, z=100",
        image_size=64,
    )
)
register(Variant(name="dcgan32", description="the classic DCGAN at 32x32: three stride-2 stages"))

# --- the paper's architecture rules, one at a time (ablations over dcgan32) ----------------------
_base = _REGISTRY["dcgan32"]


def _on_dcgan32(group: str, name: str, description: str, **fields) -> Variant:
    """The classic dcgan32 with ``fields`` changed, registered as ``name`` in ``group``."""
    return register(
        dataclasses.replace(_base, name=name, description=description, **fields), group=group
    )


def ablation(name: str, description: str, **fields) -> Variant:
    """One of the paper's architecture rules undone (the ablations suite)."""
    return _on_dcgan32("ablation", name, description, **fields)


def choice(name: str, description: str, **fields) -> Variant:
    """A training choice since the paper (the choices suite)."""
    return _on_dcgan32("choice", name, description, **fields)


ablation(
    "dcgan32-nobn", "ablation: no batch norm anywhere (biases instead)", batchnorm=False, bias=True
)
ablation(
    "dcgan32-bnall",
    "ablation: BN also on G's output and D's input layers",
    bn_g_output=True,
    bn_d_input=True,
)
ablation(
    "dcgan32-pool",
    "ablation: max-pooling in D and nearest upsampling in G instead of strided convs",
    downsample="maxpool",
    upsample="nearest",
)
ablation("dcgan32-fc", "ablation: a fully connected hidden layer (1024) in G and D", fc_hidden=1024)
ablation("dcgan32-relud", "ablation: ReLU instead of LeakyReLU in D", d_act="relu")


# --- training choices since the paper, on the classic dcgan32 (dcgan/objectives.py) -------------
# Each changes only how D and G are trained, never the architecture or what the probe reads: D's
# conv layers (with spectral normalisation, the normalised weights). The paper's optimiser
# (Adam, lr 2e-4, beta1 0.5) throughout, except WGAN-GP with its authors' own (Gulrajani et al.
# 2017: lr 1e-4, betas 0 and 0.9, 5 critic steps per G step); its critic keeps the DCGAN's batch
# norm, which they replace by layer norm.
choice("dcgan32-hinge", "choice: hinge loss", loss="hinge")
choice(
    "dcgan32-hinge-sn",
    "choice: hinge loss and spectral normalisation of D",
    loss="hinge",
    d_reg="sn",
)
choice("dcgan32-sn", "choice: spectral normalisation of D (the paper's loss)", d_reg="sn")
choice("dcgan32-ls", "choice: least-squares loss", loss="ls")
choice(
    "dcgan32-wgan-gp",
    "choice: Wasserstein loss with a gradient penalty (lambda 10)",
    loss="wgan-gp",
    n_critic=5,
    lr=1e-4,
    beta1=0.0,
    beta2=0.9,
)
choice("dcgan32-r1", "choice: R1 penalty on D (gamma 10)", d_reg="r1")
choice("dcgan32-rotation", "choice: D also predicts image rotations (SS-GAN)", d_aux="rotation")
choice("dcgan32-ema", "choice: G's weights averaged (EMA, decay 0.999)", g_ema=0.999)
