"""The `dcgan probe` command's work: a checkpoint's D, a random-init one or another extractor
probed with each chosen protocol (beside its control and the paper's rows), or one protocol with
both solvers; its rows written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import checkpoint, extractors, nets, results, runtime, svm, variants
from ..errors import UserError, check_writable_dir
from ..protocols import get
from .controls import run_extractor, run_with_control
from .rows import write_rows
from .solvers_compared import compare_solvers


def parse_grid(text: str | None) -> tuple[list[float] | None, bool | None]:
    """``--grid``: (grid, extend). None: the protocol's grid, extended while C is on an edge;
    "paper": exactly the paper's 7 values; else comma-separated values, searched as given."""
    if not text:
        return None, None
    if text == "paper":
        return list(svm.PAPER_GRID), False
    try:
        grid = [float(c) for c in text.split(",")]
    except ValueError:
        raise UserError(
            f"--grid must be 'paper' or comma-separated numbers, e.g. 1e-4,1e-3; got {text!r}"
        ) from None
    if not all(c > 0 and np.isfinite(c) for c in grid):
        raise UserError(f"--grid values must be positive numbers; got {text!r}")
    return grid, False


def probe_weights(
    protocols: str,
    ckpt=None,
    random_init: str | None = None,
    draws=None,
    test_draws=None,
    val_size=None,
    per_class=None,
    grid: str | None = None,
    solver: str = "ours",
    seed: int = 0,
    control: bool = True,
    control_seed: int = 0,
    compare_sklearn: bool = False,
    data_root=None,
    download: bool = False,
    out_dir="results/probe",
    cache_dir=None,
    device="auto",
    progress: bool = True,
    log=print,
    extractor_spec: str | None = None,
    sets: list[str] | None = None,
) -> dict:
    """The `dcgan probe` command's work: a checkpoint's D (or a random-init one of
    ``random_init``) probed with each protocol of ``protocols`` (comma-separated), beside its
    random-init control and the paper's rows, written to ``out_dir``; or, with
    ``compare_sklearn``, one protocol run with our solver and scikit-learn's on the same draws.
    ``extractor_spec`` names another extractor (``kmeans``, ``pixels``,
    ``module.path:callable``; settings in ``sets`` as KEY=VALUE) probed the same way, without a
    D or its control."""
    device = runtime.pick_device(device)
    extractor = None
    # "discriminator" alone is the D of --ckpt / --random-init, with its control; with --set
    # (variant=, ckpt=) it is an extractor like the others
    if extractor_spec is not None and (extractor_spec != "discriminator" or sets):
        if ckpt or random_init:
            raise UserError(
                f"--features {extractor_spec} probes its own features; --ckpt and --random-init"
                " choose a discriminator's (leave them out, or leave out --features)"
            )
        extractor = extractors.resolve(extractor_spec, sets)
    elif sets:
        raise UserError("--set is for --features EXTRACTOR (e.g. --features kmeans --set K=400)")
    if extractor is not None:
        v, netD, state, label, control = None, extractor, {}, extractor.label, False
    elif random_init:
        v = variants.get(random_init)
        _, netD = nets.build(v, seed=control_seed)
        state, label = {}, f"random init (seed {control_seed})"
        control = False  # it is the control
    elif ckpt:
        v, _, netD, state = checkpoint.load_models(ckpt, device)
        label = str(checkpoint.resolve(ckpt))
    else:
        raise UserError("give --ckpt CKPT (or --random-init VARIANT for an untrained D)")
    chosen = [
        get(
            name.strip(), draws=draws, test_draws=test_draws, val_size=val_size, per_class=per_class
        )
        for name in protocols.split(",")
    ]
    grid, extend = parse_grid(grid)
    out_dir = Path(out_dir)
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")  # before hours of fits
    kw = dict(
        data_root=data_root,
        grid=grid,
        extend=extend,
        seed=seed,
        device=device,
        cache_dir=cache_dir,
        progress=progress,
        log=log,
    )
    if compare_sklearn:
        if len(chosen) != 1:
            raise UserError("--compare-sklearn takes one protocol")
        result = compare_solvers(netD, chosen[0], **kw)
        stamp = results.stamp()
        result.update(
            checkpoint=label, variant=v.name if v else label, device=str(device), time=stamp
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"probe-compare-{chosen[0].name}-{stamp}.json"
        path.write_text(json.dumps(result, indent=1))
        return {**result, "json": str(path)}
    rows = []
    name = (
        (f"{Path(ckpt).name}" + (" (released weights)" if "released" in state else ""))
        if ckpt
        else label
    )
    for protocol in chosen:
        if extractor is not None:
            rows += run_extractor(extractor, protocol, download=download, solver=solver, **kw)
            continue
        rows += run_with_control(
            v,
            netD,
            protocol,
            control=control,
            control_seed=control_seed,
            label=name,
            download=download,
            solver=solver,
            **kw,
        )
    for row in rows:
        row.setdefault("checkpoint", label if extractor is None else "")
    json_path, csv_path = write_rows(rows, out_dir)
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path)}
