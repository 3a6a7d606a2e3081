"""A model's probe rows as the tables show them: the measured row beside its random-init control
(the same architecture, the same protocol and draws) and the paper's quoted rows; any other
feature extractor's row beside the published figure it should be held against."""

from __future__ import annotations

from .. import extractors, nets, results, runtime
from ..protocols import Protocol, quoted_rows
from .probe import run


def run_with_control(
    variant,
    netD,
    protocol: Protocol,
    control: bool = True,
    control_seed: int = 0,
    label: str = "",
    **kw,
) -> list[dict]:
    """The measured row, the random-init control row (same architecture, same protocol), and the
    paper's rows, as tidy dicts carrying every setting that changes a number."""
    log = kw.get("log", print)
    common = {
        **runtime.provenance(),
        "variant": variant.name,
        "device": str(kw.get("device", "cpu")),
    }
    rows = []
    log(f"{protocol.name}: probing {label or variant.name}")
    rows.append(
        {
            **common,
            "weights": label or "checkpoint",
            "source": "measured",
            "kind": results.MEASURED,
            **run(netD, protocol, **kw),
        }
    )
    if control:
        _, random_D = nets.build(variant, seed=control_seed)
        log(f"{protocol.name}: probing the random-init control (seed {control_seed})")
        rows.append(
            {
                **common,
                "weights": f"random init (seed {control_seed})",
                "source": "measured (control)",
                "kind": results.CONTROL,
                **run(random_D, protocol, **kw),
            }
        )
    return rows + quoted_rows(protocol.name, rows[0]["metric"])


def run_extractor(extractor: extractors.Extractor, protocol: Protocol, **kw) -> list[dict]:
    """Any extractor (K-means, pixels, a user's module) through ``protocol``: its measured row,
    naming the published figure it should be held against where one exists, then the paper's
    rows. The same protocol, draws and test images as a D's probe."""
    log = kw.get("log", print)
    log(f"{protocol.name}: probing {extractor.label}")
    result = run(extractor, protocol, **kw)
    anchor = extractor.anchor(protocol.name)
    deviations = [
        "C chosen on the validation split (the published recipe fixes it)"
        if extractor.fixed_C is not None
        else "",
        result["data_note"],
        _training_images(protocol, result),
    ]
    row = {
        **runtime.provenance(),
        "variant": extractor.label,
        "device": str(kw.get("device", "cpu")),
        "weights": extractor.title,  # where its state was fitted is in "fitted_on"
        "source": "measured",
        "kind": results.MEASURED,
        **result,
        "anchor": anchor,
        "note": "; ".join(x for x in [f"published: {anchor}" if anchor else "", *deviations] if x),
    }
    return [row] + quoted_rows(protocol.name, row["metric"])


def _training_images(protocol: Protocol, result: dict) -> str:
    if protocol.per_class is None:
        return (
            f"C chosen with {result['val_size']} training images held out; the final fit uses"
            " all of them"
        )
    return ""
