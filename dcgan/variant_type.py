"""What a variant is: one frozen dataclass of an architecture and its training settings, its
fields' checks (choices, registered objectives, numeric ranges, refused at once naming the
field), and how a variant is read back from a checkpoint or from ``--set KEY=VALUE`` pairs.
variants.py holds the registry of named variants built from it.

The depth of both nets follows from ``image_size``: there are ``log2(image_size / 4)``
resolution stages between the 4x4 bottleneck and the image, each with ``convs_per_stage``
convolutions (1: the classic DCGAN, one strided conv per stage; 2: the released ImageNet-32
model, a stride-1 conv beside each strided one). Stage ``i`` of D has ``ndf * 2**i`` channels;
G mirrors it with ``ngf * 2**(stages - 1 - i)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from . import objectives
from .errors import UserError

# Choices a field may take, checked in Variant.__post_init__ so a typo fails at once.
CHOICES = {
    "z_dist": ("uniform", "normal"),
    "g_input": ("linear", "convt"),
    "d_output": ("linear", "conv"),
    "d_act": ("lrelu", "relu"),
    "downsample": ("stride", "maxpool"),
    "upsample": ("stride", "nearest"),
    "bn_gain_init": ("ones", "normal"),
    "updates": ("both", "alternate"),
}
# the objective's fields choose registry entries (objectives.py): one registration adds a choice
REGISTERED = {
    "loss": objectives.LOSSES,
    "d_reg": objectives.REGULARISERS,
    "d_aux": objectives.AUX_TASKS,
}


# The numeric fields' sensible ranges (a NaN, a negative rate or beta1 = 2 is refused at once,
# naming the field, instead of failing later inside Adam or training on to losses of 1e17).
_NUMBER_RANGES = {
    "lr": (lambda x: 0 < x <= 1, "in (0, 1], e.g. 2e-4"),
    "beta1": (lambda x: 0 <= x < 1, "in [0, 1), e.g. 0.5"),
    "beta2": (lambda x: 0 <= x < 1, "in [0, 1), e.g. 0.999"),
    "init_std": (lambda x: x > 0, "positive, e.g. 0.02"),
    "bn_eps": (lambda x: x > 0, "positive, e.g. 1e-5"),
    "weight_decay": (lambda x: x >= 0, "zero or positive, e.g. 1e-5"),
    "lrelu_slope": (lambda x: x >= 0, "zero or positive, e.g. 0.2"),
    "gp_lambda": (lambda x: x > 0, "positive, e.g. 10"),
    "n_critic": (lambda x: x >= 1, "1 or more, e.g. 5"),
    "r1_gamma": (lambda x: x > 0, "positive, e.g. 10"),
    "rot_weight_d": (lambda x: x > 0, "positive, e.g. 1.0"),
    "rot_weight_g": (lambda x: x >= 0, "zero or positive, e.g. 0.2"),
    "g_ema": (lambda x: 0 <= x < 1, "in [0, 1): 0 is off, e.g. 0.999"),
}


@dataclass(frozen=True)
class Variant:
    """An architecture plus its training settings. Defaults follow the paper (PROTOCOL.md §1)."""

    name: str
    description: str = ""
    # --- architecture --------------------------------------------------------------------------
    image_size: int = 32
    nc: int = 3  # image channels
    nz: int = 100  # latent size
    ngf: int = 64  # G width of its last hidden stage
    ndf: int = 64  # D width of its first stage
    kernel: int = 4
    convs_per_stage: int = 1
    # "convt": 4x4 transposed conv from 1x1 (pytorch/examples);
    # "linear": linear + BN over units (released code)
    g_input: str = "convt"
    # "conv": 4x4 conv to 1x1 (pytorch/examples); "linear": flatten + linear (released code)
    d_output: str = "conv"
    batchnorm: bool = True
    bn_g_output: bool = False  # paper: no BN on G's output layer
    bn_d_input: bool = False  # paper: no BN on D's input layer
    bias: bool = False  # conv/linear biases; the released models and pytorch/examples have none
    d_act: str = "lrelu"
    lrelu_slope: float = 0.2
    downsample: str = "stride"  # paper: strided convs, not pooling
    upsample: str = "stride"  # paper: fractionally strided convs, not upsampling
    # >0 adds a fully connected hidden layer to G (after z) and D (before the logit)
    fc_hidden: int = 0
    # --- what the released code did beyond the paper (options; defaults follow the paper) -------
    z_dist: str = "uniform"  # paper Fig. 1: "100 dimensional uniform distribution Z" in [-1, 1]
    bn_eps: float = 1e-5  # PyTorch's default; the released Theano code used 1e-8
    bn_gain_init: str = "ones"  # "normal": N(1, 0.02) as the released code
    init_std: float = 0.02  # weights N(0, init_std)
    # the released code: 1e-5 (faces) / 2.5e-5 (MNIST), L2 on all parameters
    weight_decay: float = 0.0
    # --- optimisation ----------------------------------------------------------------------------
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 128
    # "both": D then G on every minibatch (pytorch/examples, the paper's text says no more);
    # "alternate": one network per minibatch, G first, as the authors' released training loops
    # (faces/train_uncond_dcgan.py ~l.203, mnist/train_cond_dcgan.py: `if n_updates % (k+1) == 0:
    # train G else: train D`, k = 1), so each network gets half the minibatches. Their ImageNet and
    # SVHN scripts were not released: the same loop is inferred for the released-model variants.
    updates: str = "both"
    # --- training choices since the paper (dcgan/objectives.py; defaults: the paper's) ----------
    # the objective: "bce" the paper's non-saturating GAN loss; "hinge" (Lim & Ye 2017, Miyato et
    # al. 2018); "ls" least squares (Mao et al. 2017, a=0, b=c=1); "wgan-gp" Wasserstein with a
    # gradient penalty of weight gp_lambda (Gulrajani et al. 2017), G updated every n_critic steps
    loss: str = "bce"
    gp_lambda: float = 10.0
    n_critic: int = 1  # D updates per G update (a step updates D; G too on every n_critic-th step)
    # D's regulariser: "sn" spectral normalisation of every D layer (Miyato et al. 2018); "r1" the
    # R1 penalty r1_gamma/2 E||grad_x D(x)||^2 on real images (Mescheder et al. 2018); or both
    d_reg: str = "none"
    r1_gamma: float = 10.0
    # an auxiliary task for D: "rotation", D also predicts which of 0/90/180/270 degrees an image
    # was turned by (Chen et al., CVPR 2019), weighted rot_weight_d in D's loss (on real images)
    # and rot_weight_g in G's (on its samples); their beta = 1, alpha = 0.2
    d_aux: str = "none"
    rot_weight_d: float = 1.0
    rot_weight_g: float = 0.2
    # an exponential moving average of G's weights with this decay (0: off); sampling, fidelity
    # and figures then use the average, and checkpoints keep both
    g_ema: float = 0.0

    def __post_init__(self):
        for field, allowed in [*CHOICES.items(), *REGISTERED.items()]:
            if getattr(self, field) not in allowed:
                raise UserError(
                    f"variant {self.name!r}: {field}={getattr(self, field)!r} is not one of"
                    f" {', '.join(allowed)}"
                )
        stages = self.stages  # validates image_size
        if self.convs_per_stage not in (1, 2):
            raise UserError(f"variant {self.name!r}: convs_per_stage must be 1 or 2")
        if self.kernel % 2 == 0 and self.kernel != 4:
            raise UserError(
                f"variant {self.name!r}: an even kernel must be 4 (stride 2, padding 1)"
            )
        if self.kernel % 2 == 0 and self.convs_per_stage == 2:
            raise UserError(
                f"variant {self.name!r}: stride-1 convs (convs_per_stage=2) need an odd kernel to"
                " keep the size"
            )
        if stages < 1:
            raise UserError(f"variant {self.name!r}: image_size must be at least 8")
        for field in ("nz", "ngf", "ndf", "nc", "batch_size", "kernel"):
            if getattr(self, field) < 1:
                raise UserError(f"variant {self.name!r}: {field} must be positive")
        # numbers the optimiser and initialisation take: checked here, before any work, with the
        # range that makes sense (Adam's own errors come late and as tracebacks)
        for field, (ok, what) in _NUMBER_RANGES.items():
            x = getattr(self, field)
            if not (math.isfinite(x) and ok(x)):
                raise UserError(
                    f"variant {self.name!r}: {field}={x!r} must be {what} (--set {field}=...)"
                )
        if self.fc_hidden < 0:
            raise UserError(f"variant {self.name!r}: fc_hidden must be 0 (none) or positive")

    @property
    def stages(self) -> int:
        """Resolution stages between 4x4 and the image: 32 -> 3, 64 -> 4."""
        s = math.log2(self.image_size / 4) if self.image_size >= 4 else -1
        if s != int(s):
            raise UserError(
                f"variant {self.name!r}: image_size {self.image_size} must be 4 times a power of"
                " two (8, 16, 32, 64, 128, ...)"
            )
        return int(s)

    def d_layers(self) -> list[tuple[int, int]]:
        """(out_channels, stride) of each D conv layer, shallow to deep."""
        layers = []
        for i in range(self.stages):
            width = self.ndf * 2**i
            if self.convs_per_stage == 2:
                layers.append((width, 1))
            layers.append((width, 2))
        return layers

    def g_layers(self) -> list[tuple[int, int]]:
        """(out_channels, stride) of each G conv layer after the 4x4 projection; the last is
        the image."""
        widths = [self.ngf * 2 ** (self.stages - 1 - i) for i in range(self.stages)] + [self.nc]
        layers = []
        for i in range(self.stages):
            if self.convs_per_stage == 2:
                # upsample at the current width, then a stride-1 conv to the next width
                layers += [(widths[i], 2), (widths[i + 1], 1)]
            else:
                layers.append((widths[i + 1], 2))
        return layers

    @property
    def g_start_channels(self) -> int:
        """Channels of G's 4x4 projection."""
        return self.ngf * 2 ** (self.stages - 1)

    @property
    def feature_dim(self) -> int:
        """Size of the paper's feature vector: each D conv layer max-pooled to 4x4, concatenated."""
        return 16 * sum(width for width, _ in self.d_layers())

    @property
    def double_backward(self) -> bool:
        """Whether D's loss holds a gradient penalty (wgan-gp, r1): a step differentiated twice."""
        return any(t.double_backward for t in objectives.d_terms(self))

    def summary(self) -> dict:
        """What `dcgan variants` lists."""
        return {
            "description": self.description,
            "image_size": self.image_size,
            "nz": self.nz,
            "d_layers": self.d_layers(),
            "feature_dim": self.feature_dim,
        }

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Variant)]


# Fields that change only what G's samples are drawn from (the moving average), never a step of
# either network's training: two variants that differ in nothing else train the same D (and G) at
# the same seed, bit for bit, so their probes are equal and only sample metrics (KID) can differ.
SAMPLING_ONLY_FIELDS = ("g_ema",)


def same_training(a: Variant, b: Variant) -> bool:
    """Whether ``a`` and ``b`` train both networks identically (they may sample differently)."""
    skip = {"name", "description", *SAMPLING_ONLY_FIELDS}
    return all(getattr(a, f) == getattr(b, f) for f in field_names() if f not in skip)


def from_dict(d: dict) -> Variant:
    """Rebuild a variant saved with ``to_dict`` (e.g. from a checkpoint)."""
    unknown = sorted(set(d) - set(field_names()))
    if unknown:
        raise UserError(
            f"saved variant has fields this version does not know: {', '.join(unknown)}; upgrade"
            " dcgan-bench"
        )
    return Variant(**d)


def parse_overrides(pairs: list[str]) -> dict:
    """``["ngf=16", "z_dist=normal"]`` -> typed overrides, each parsed as its field's type."""
    types = {f.name: f.type for f in dataclasses.fields(Variant)}
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep:
            raise UserError(f"override {pair!r} is not KEY=VALUE (e.g. --set ngf=32)")
        if key not in types or key == "name":
            raise UserError(
                f"unknown variant field {key!r}; fields: {', '.join(field_names()[1:])}"
            )
        kind = types[key]
        try:
            if kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                value = raw.lower() in ("true", "1")
            elif kind == "int":
                value = int(raw)
            elif kind == "float":
                value = float(raw)
            else:
                value = raw
        except ValueError:
            raise UserError(f"override {pair!r}: {raw!r} is not a valid {kind}") from None
        out[key] = value
    return out
