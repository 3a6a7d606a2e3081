"""What a suite is and what its cells are: the ``Suite`` declaration (variants x datasets x
seeds x protocols at a scale, and what else it measures) and the ``Cell``, one unit of work
named by its kind and axes plus a hash of every setting that changes its result, so editing a
suite's declaration makes new cells rather than reusing stale ones."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from dcgan import data, variants
from dcgan.errors import UserError


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    variants: tuple[tuple[str, tuple[tuple[str, object], ...]], ...]  # (registered name, overrides)
    datasets: tuple[str, ...]  # training data
    seeds: tuple[int, ...]
    # (protocol, draws, test draws[, other Protocol fields as (key, value) pairs]);
    # None: the paper's
    protocols: tuple[tuple, ...]
    steps: dict[str, int]  # training steps per dataset
    data_root: str | None = None
    fidelity_metrics: tuple[str, ...] = ()
    fidelity_n: int = 0
    memorisation_n: int = 0
    throughput_stages: tuple[str, ...] = ()
    benchmarks: bool = False
    figures: bool = False  # a latent walk and a numbered sample sheet of each trained model
    # probe curve: checkpoints at steps/16 ... steps (and step 0), probed on the first
    # protocol; 0: none
    curve_points: int = 5
    # models imported from the authors' released weights instead of trained:
    # (folder name, variant, protocols)
    released: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    # (variant, the one dataset it trains on); other variants train on every dataset
    trains_on: tuple[tuple[str, str], ...] = ()
    # "smoke": the same cells at toy sizes, to prove the route runs (see paper())
    scale: str = "full"
    note: str = ""  # written into every row's "note" (e.g. what a smoke scale changed)
    # fidelity: a weights file (default: the standard one, where it is)
    inception_weights: str | None = None
    # keyword arguments of throughput.run (e.g. fewer calls)
    throughput_options: tuple[tuple[str, object], ...] = ()
    # a model label: the report ranks every model by probe accuracy against it
    ranked_against: str | None = None
    # other feature extractors probed with every protocol beside the Ds (Table 1's baselines):
    # (registered extractor, its settings as (key, value) pairs)
    baselines: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()


@dataclass(frozen=True)
class Cell:
    # train, probe, curve, control, fidelity, memorisation, figures, throughput, benchmarks
    kind: str
    variant: str
    overrides: tuple[tuple[str, object], ...] = ()
    dataset: str | None = None
    seed: int | None = None
    protocol: tuple | None = None
    settings: tuple[tuple[str, object], ...] = ()

    @property
    def label(self) -> str:
        over = ",".join(f"{k}={v}" for k, v in self.overrides)
        return self.variant + (f"[{over}]" if over else "")

    @property
    def id(self) -> str:
        parts = [
            self.kind,
            self.label,
            self.dataset,
            None if self.seed is None else f"seed{self.seed}",
            self.protocol[0] if self.protocol else None,
        ]
        digest = hashlib.sha256(
            json.dumps(asdict(self), sort_keys=True, default=str).encode()
        ).hexdigest()[:8]
        return "/".join(p for p in parts if p) + f"/{digest}"

    def fields(self) -> dict:
        return {
            "kind": self.kind,
            "variant": self.variant,
            "dataset": self.dataset or "",
            "seed": "" if self.seed is None else str(self.seed),
            "protocol": self.protocol[0] if self.protocol else "",
        }

    def extractor_settings(self) -> list[str]:
        """A baseline cell's settings as ``--set`` pairs."""
        return [f"{k}={v}" for k, v in self.overrides]

    def variant_obj(self) -> variants.Variant:
        return variants.get(self.variant, **dict(self.overrides))


def train_recipe(dataset: str | None) -> str:
    """How the training pictures were made from the dataset (a deviation from the paper's
    recipe is said here)."""
    return data.spec(dataset).recipe if dataset in data.names() else ""


def cifar10_present(root: str | None = None) -> str | None:
    found = data.resolve_root(root)
    return str(found) if found is not None and (found / "cifar10_train.npz").exists() else None


def check_scale(suite: str, scale: str, scales: tuple[str, ...]) -> None:
    if scale not in scales:
        raise UserError(
            f"the {suite} suite has the scale(s) {', '.join(scales)}; got --scale {scale}"
        )
