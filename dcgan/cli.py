"""`dcgan <command>`: progress and messages to stderr, results to stdout (`--json`: one object).

Bad input is reported as one line, ``dcgan: error: ...``, with a non-zero exit and no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from . import atomic
from .errors import UserError, check_writable_dir, refuse_overwrite


def _pairs(items: list[str], what: str) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{what} {item!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out


def _whole(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {what}; got {value}")
    return value


def _positive(text: str) -> int:
    """argparse type: a count that must be at least 1 (a zero would divide by zero or measure nothing)."""
    return _whole(text, 1, "at least 1")


def _non_negative(text: str) -> int:
    return _whole(text, 0, "0 or more")


def _ints(text: str | None, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(e) for e in (text or "").split(",") if e.strip())
    except ValueError:
        raise UserError(f"{what} must be comma-separated whole numbers, e.g. 1,5; got {text!r}") from None


def _fast_path(args):
    from .step import FastPath

    return FastPath(args.amp, args.channels_last, args.compile, args.fused_adam, args.cuda_graphs)


def cmd_train(args) -> dict:
    from . import variants
    from .train import TrainConfig, train

    v = variants.get(args.variant, **variants.parse_overrides(args.set or []))
    cfg = TrainConfig(
        variant=v, out=Path(args.out), steps=args.steps, dataset=args.dataset, split=args.split,
        data_root=args.data_root, data_options=_pairs(args.data_opt, "--data-opt"), download=args.download,
        seed=args.seed, ckpt_every=args.ckpt_every, keep=args.keep, log_every=args.log_every, sample_n=args.sample_n,
        sheet_epochs=_ints(args.sheet_epochs, "--sheet-epochs"), keep_steps=_ints(args.keep_steps, "--keep-steps"),
        resume=args.resume, device=args.device, fast=_fast_path(args), deterministic=args.deterministic,
        collapse_steps=args.collapse_steps, progress=not args.no_progress,
    )
    result = train(cfg)
    if result["rank"] != 0:  # under torchrun, the first process speaks for all
        args.json = False
        return result
    speed = result["images_per_s"]
    procs = f" x {result['processes']} processes" if result["processes"] > 1 else ""
    print(f"trained {result['variant']} on {result['dataset']}/{result['split']} to step {result['steps']} "
          f"({speed:.0f} images/s on {result['device']}{procs}); checkpoint {result['checkpoint']}", file=sys.stderr)
    return result


def cmd_variants(args) -> dict:
    from . import variants

    rows = {}
    for name in variants.names():
        v = variants.get(name)
        rows[name] = {"description": v.description, "image_size": v.image_size, "nz": v.nz,
                      "d_layers": v.d_layers(), "feature_dim": v.feature_dim}
    if not args.json:
        for name, r in rows.items():
            print(f"{name:16s} {r['image_size']:>3d}px  nz={r['nz']:<3d} features={r['feature_dim']:<6d} {r['description']}")
    return {"variants": rows}


def cmd_datasets(args) -> dict:
    from . import data

    rows = {name: {"splits": list(data.spec(name).splits), "description": data.spec(name).description,
                   "needs_root": data.spec(name).needs_root, "options": list(data.spec(name).options)}
            for name in data.names()}
    if not args.json:
        for name, r in rows.items():
            print(f"{name:11s} splits={','.join(r['splits']):18s} {r['description']}")
        print(f"\nRoots come from --data-root or ${data.DATA_ROOT_ENV}.")
    return {"datasets": rows}


def cmd_sample(args) -> dict:
    import torch
    from torchvision.utils import save_image

    from . import checkpoint, nets

    if args.n < 1:
        raise UserError(f"--n must be at least 1; got {args.n}")
    out = Path(args.out)
    refuse_overwrite(out, args.force)
    v, netG, _, state = checkpoint.load_models(args.ckpt)
    bn = args.bn_stats or ("batch" if state.get("bn_stats") == "none" else "running")
    z = nets.sample_z(v, args.n, torch.Generator().manual_seed(args.seed))
    images = nets.generate(netG, z, bn)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, out, nrow=int(math.ceil(math.sqrt(args.n))), normalize=True, value_range=(-1, 1))
    print(f"wrote {args.n} samples of {v.name} to {out}", file=sys.stderr)
    return {"out": str(out), "n": args.n, "seed": args.seed, "variant": v.name, "bn_stats": bn}


def _figure_setup(args):
    """The checkpoint's G and D, the BN statistics to sample with, and a new output folder."""
    from . import checkpoint

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder for the figures")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise UserError(f"{out} exists and is not empty; pass --force to write into it, or choose another --out")
    check_writable_dir(out, f"cannot write the figures to --out {out}")
    v, netG, netD, state = checkpoint.load_models(args.ckpt)
    bn = getattr(args, "bn_stats", None) or ("batch" if state.get("bn_stats") == "none" else "running")
    return out, v, netG, netD, bn


def _write_json(path: Path, record: dict) -> dict:
    path.write_text(json.dumps(record, indent=1, default=str))
    return record


def cmd_walk(args) -> dict:
    from PIL import Image

    from . import figures, nets

    out, v, netG, _, bn = _figure_setup(args)
    z = figures.walk_z(v, args.points, args.steps, args.seed, args.mode)
    images = nets.render(netG, z, bn)
    png = figures.save_png(figures.grid(images, args.points - 1), out / f"walk-{args.mode}.png", args.scale)
    # one continuous animation: each row after the first starts where the previous ended
    keep = [k for k in range(len(images)) if k == 0 or k % (args.steps + 1) != 0]
    frames = [Image.fromarray(images[k].squeeze(-1) if images[k].shape[-1] == 1 else images[k]).resize((v.image_size * args.scale,) * 2, Image.NEAREST)
              for k in keep]
    gif = out / f"walk-{args.mode}.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    print(f"walk through {args.points} z ({args.mode}, {args.steps} steps each): {png} and {gif}", file=sys.stderr)
    return _write_json(out / f"walk-{args.mode}.json", {"png": str(png), "gif": str(gif), "points": args.points, "steps": args.steps,
                                                        "mode": args.mode, "seed": args.seed, "bn_stats": bn, "ckpt": args.ckpt})


def cmd_arithmetic(args) -> dict:
    import numpy as np
    import torch

    from . import figures, nets

    out, v, netG, _, bn = _figure_setup(args)
    sheet = figures.sheet_z(v, args.n, args.seed)
    bn_note = bn
    if bn == "batch":  # every image of the figure normalised as the sheet was
        netG, bn, bn_note = figures.freeze_batch_stats(netG, sheet), "running", "the sheet's batch statistics, frozen"
    record = {"ckpt": args.ckpt, "sheet_n": args.n, "sheet_seed": args.seed, "bn_stats": bn_note}
    sheet_png = figures.save_png(figures.numbered_sheet(nets.render(netG, sheet, bn)), out / "sheet.png")
    record["sheet"] = str(sheet_png)
    print(f"numbered sample sheet: {sheet_png} (pick exemplars by index; the same --n and --seed give the same z)", file=sys.stderr)
    if args.expr:
        terms = figures.parse_expression(args.expr)
        result = figures.arithmetic(v, sheet, terms, args.noise, args.seed)
        # one batch for the whole figure: with batch BN statistics (the released models) an image
        # depends on its batch, and a lone G(mean) would have none
        parts = [sheet[idx] for _, idx in terms] + [result["means"], result["grid"]]
        rendered = np.split(nets.render(netG, torch.cat(parts), bn), np.cumsum([len(p) for p in parts])[:-1])
        means, result_images = rendered[-2], rendered[-1]
        rows = [np.concatenate([ex, means[k:k + 1]]) for k, ex in enumerate(rendered[:len(terms)])]
        width = max(len(r) for r in rows)
        blank = np.full_like(rows[0][:1], 255)
        concepts = np.concatenate([np.concatenate([r, np.repeat(blank, width - len(r), 0)]) for r in rows])
        record["concepts"] = str(figures.save_png(figures.grid(concepts, len(rows)), out / "arithmetic-concepts.png", args.scale))
        record["result"] = str(figures.save_png(figures.grid(result_images, 3), out / "arithmetic-result.png", args.scale))
        record.update({"expr": args.expr, "terms": terms, "noise": args.noise})
        print(f"{args.expr}: exemplars and their means in {record['concepts']}, G(Y) and its neighbours in {record['result']}", file=sys.stderr)
    if args.turn_left or args.turn_right:
        left, right = (sorted({int(i) for i in s.split(",") if i}) for s in (args.turn_left or "", args.turn_right or ""))
        rows = [int(i) for i in (args.turn_rows or "0,1,2,3").split(",") if i]
        if not left or not right or any(not 0 <= i < args.n for i in left + right + rows):
            raise UserError(f"--turn-left and --turn-right need sample indices on the sheet (0..{args.n - 1}), e.g. 1,2,3,4")
        z, _ = figures.turn_rows(sheet, left, right, rows, args.steps)
        record["turn"] = str(figures.save_png(figures.grid(nets.render(netG, z, bn), len(rows)), out / "turn.png", args.scale))
        record.update({"turn_left": left, "turn_right": right, "turn_rows": rows, "turn_steps": args.steps})
        print(f"turn vector applied along {len(rows)} rows: {record['turn']}", file=sys.stderr)
    return _write_json(out / "arithmetic.json", record)


def cmd_visualise(args) -> dict:
    import numpy as np

    from . import data, features, figures, nets

    out, v, _, netD, _ = _figure_setup(args)
    images = data.subset(data.load(args.dataset, args.split, args.data_root, **_pairs(args.data_opt, "--data-opt")), args.n_images, args.seed)
    if images.image_size != v.image_size:
        raise UserError(f"{args.dataset} images are {images.image_size}px; {v.name} takes {v.image_size}px")
    record = {"ckpt": args.ckpt, "dataset": images.name, "n_images": len(images), "seed": args.seed, "bn_stats": "population (these images)"}
    rows = []
    _, random_D = nets.build(v, seed=args.seed)
    for label, net in (("trained", netD), (f"random init (seed {args.seed})", random_D)):
        result = figures.guided_backprop(features.with_population_stats(net, images.x), images.x, args.features, args.layer)
        rows.append(np.stack([images.x[f["image_index"]] for f in result["features"]]))
        rows.append(np.stack([figures.gradient_image(f["gradient"]) for f in result["features"]]))
        record[label] = [{k: f[k] for k in ("feature", "image_index", "position", "response")} for f in result["features"]]
        record["layer"] = result["layer"]
    png = figures.save_png(figures.grid(np.concatenate(rows), 4), out / "guided-backprop.png", args.scale)
    print(f"guided backpropagation of the first {args.features} features of {record['layer']}: rows = trained D's top images, "
          f"their gradients, then the random-init D's: {png}", file=sys.stderr)
    return _write_json(out / "guided-backprop.json", {**record, "png": str(png)})


def cmd_forget(args) -> dict:
    import numpy as np

    from . import figures, nets

    out, v, netG, _, bn = _figure_setup(args)
    layer = args.layer or figures.second_highest(netG)
    if layer not in figures.g_layers(netG):
        raise UserError(f"unknown G layer {layer!r}; G's hidden conv layers: {', '.join(figures.g_layers(netG))}")
    marks = figures.read_boxes(args.boxes)
    sheet = figures.sheet_z(v, args.n, args.seed)
    bn_note = bn
    if bn == "batch":  # the marked samples as the sheet showed them; fresh samples normalised the same way
        netG, bn, bn_note = figures.freeze_batch_stats(netG, sheet), "running", "the sheet's batch statistics, frozen"
    fit = figures.fit_window_detector(netG, sheet, marks, layer, args.seed, bn)
    z = figures.sheet_z(v, args.show, args.seed + 1)  # fresh samples, each drawn with and without the drop
    before = nets.render(netG, z, bn)
    after = figures.generate_dropping(netG, z, layer, fit["dropped"], bn)
    png = figures.save_png(figures.grid(np.concatenate([before, after]), 2), out / "forget.png", args.scale)
    print(f"dropped {len(fit['dropped'])} of {len(fit['weights'])} feature maps of {layer} (positive weight in the logistic regression, "
          f"{fit['n_positive']} positive and {fit['n_negative']} negative positions); top row as drawn, bottom row without them: {png}",
          file=sys.stderr)
    return _write_json(out / "forget.json", {
        "ckpt": args.ckpt, "boxes": args.boxes, "sheet_n": args.n, "sheet_seed": args.seed, "layer": layer,
        "layer_choice": "the last hidden layer of G (the output layer counted as the highest) [our choice; PROTOCOL.md §8 leaves it open]",
        "dropped": fit["dropped"], "n_feature_maps": len(fit["weights"]), "n_positive": fit["n_positive"], "n_negative": fit["n_negative"],
        "train_accuracy": fit["train_accuracy"], "png": str(png), "bn_stats": bn_note})


def cmd_features(args) -> dict:
    import numpy as np

    from . import checkpoint, data, features, probe
    from .runtime import pick_device

    out = Path(args.out)
    refuse_overwrite(out, args.force)
    device = pick_device(args.device)
    v, _, netD, state = checkpoint.load_models(args.ckpt, device)
    if args.bn_stats == "running" and state.get("bn_stats") == "none":
        raise UserError(f"{args.ckpt} has no BN running statistics (imported weights); use --bn-stats pool")
    opts = _pairs(args.data_opt, "--data-opt")
    images = data.load(args.dataset, args.split, args.data_root, **opts)
    if images.image_size != v.image_size:
        raise UserError(f"{args.dataset}/{args.split} images are {images.image_size} px but {v.name} takes {v.image_size} px")
    pool = None
    protocol = probe.protocol_for(args.dataset)
    if args.bn_stats == "pool" and args.bn_pool is None and protocol is not None:
        # the probe's own pool, so these features are the ones `dcgan probe` fits
        train = images if args.split == "train" else data.load(args.dataset, "train", args.data_root, **opts)
        pool = probe.labelled_pool(protocol, train)
    elif args.bn_stats == "pool":
        pool_name, _, pool_split = (args.bn_pool or f"{args.dataset}:train").partition(":")
        pool = images if (pool_name, pool_split or "train") == (args.dataset, args.split) else data.load(
            pool_name, pool_split or "train", args.data_root, **(opts if pool_name == args.dataset else {}))
    dtype = np.float16 if args.float16 else np.float32
    feats, record = features.cached_features(netD, images, pool, args.bn_stats, args.cache_dir, args.batch_size, device,
                                             dtype, progress=not args.no_progress)
    with atomic.replacing(out) as tmp:
        np.save(tmp, np.asarray(feats))
    print(f"wrote {feats.shape[0]} x {feats.shape[1]} features of {v.name} ({record['bn_stats']}) to {out}"
          f"{' (from the cache)' if record['cached'] else ''}", file=sys.stderr)
    return {"out": str(out), "shape": list(feats.shape), "variant": v.name, "checkpoint": str(checkpoint.resolve(args.ckpt)), **record}


def cmd_probe(args) -> dict:
    import time

    from . import checkpoint, probe, svm
    from .runtime import pick_device

    device = pick_device(args.device)
    if args.random_init:
        from . import nets, variants

        v = variants.get(args.random_init)
        _, netD = nets.build(v, seed=args.control_seed)
        state, ckpt_label = {}, f"random init (seed {args.control_seed})"
        args.no_control = True  # it is the control
    elif args.ckpt:
        v, _, netD, state = checkpoint.load_models(args.ckpt, device)
        ckpt_label = str(checkpoint.resolve(args.ckpt))
    else:
        raise UserError("give --ckpt CKPT (or --random-init VARIANT for an untrained D)")
    protocols = [probe.get(name.strip(), draws=args.draws, test_draws=args.test_draws, val_size=args.val_size, per_class=args.per_class)
                 for name in args.protocol.split(",")]
    grid, extend = None, None  # the protocol's grid, extended while C is on an edge
    if args.grid == "paper":
        grid, extend = list(svm.PAPER_GRID), False
    elif args.grid:
        try:
            grid, extend = [float(c) for c in args.grid.split(",")], False
        except ValueError:
            raise UserError(f"--grid must be 'paper' or comma-separated numbers, e.g. 1e-4,1e-3; got {args.grid!r}") from None
        if not all(c > 0 and math.isfinite(c) for c in grid):
            raise UserError(f"--grid values must be positive numbers; got {args.grid!r}")
    log = (lambda msg: None) if args.no_progress else (lambda msg: print(msg, file=sys.stderr))
    out_dir = Path(args.out_dir)
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")  # before hours of fits
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.compare_sklearn:
        if len(protocols) != 1:
            raise UserError("--compare-sklearn takes one protocol")
        protocol = protocols[0]
        result = probe.compare_solvers(netD, protocol, data_root=args.data_root, grid=grid, extend=extend, seed=args.seed, device=device,
                                       cache_dir=args.cache_dir, progress=not args.no_progress, log=log)
        result.update(checkpoint=ckpt_label, variant=v.name, device=str(device), time=stamp)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"probe-compare-{protocol.name}-{stamp}.json"
        path.write_text(json.dumps(result, indent=1))
        print(f"{protocol.name}, {protocol.draws} draw(s) x {len(result['grid'])} C + {protocol.test_draws} test draw(s), {result['feature_dim']} dims: "
              f"ours {result['seconds_ours']:.1f} s, scikit-learn {result['seconds_sklearn']:.1f} s, ratio {result['speed_ratio']:.1f}x; "
              f"objective within {result['max_objective_rel_diff']:.1e} relative, test accuracy within "
              f"{result['max_test_acc_diff_points']:.2f} points at every C"
              + (f" ({result['fits_kept_ours']} + {result['fits_kept_sklearn']} fits kept from an interrupted earlier run, with their own seconds)"
                 if result["fits_kept_ours"] or result["fits_kept_sklearn"] else "")
              + f"; written to {path}", file=sys.stderr)
        return result
    rows = []
    for protocol in protocols:
        rows += probe.run_with_control(v, netD, protocol, control=not args.no_control, control_seed=args.control_seed,
                                       label=(f"{Path(args.ckpt).name}" + (" (released weights)" if "released" in state else "")) if args.ckpt else ckpt_label,
                                       data_root=args.data_root, download=args.download, solver=args.solver, grid=grid, extend=extend, seed=args.seed,
                                       device=device, cache_dir=args.cache_dir, progress=not args.no_progress, log=log)
    for row in rows:
        row.setdefault("checkpoint", ckpt_label)
    json_path, csv_path = probe.write_rows(rows, out_dir)
    if not args.json:
        print(probe.table(rows).to_string(index=False))
    print(f"rows: {json_path} and {csv_path}", file=sys.stderr)
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path)}


def cmd_probe_curve(args) -> dict:
    from . import curve, report
    from .runtime import pick_device

    steps = None
    if args.steps:
        try:
            steps = [int(s) for s in args.steps.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--steps must be comma-separated checkpoint steps, e.g. 500,1000; got {args.steps!r}") from None
    log = (lambda msg: None) if args.no_progress else (lambda msg: print(msg, file=sys.stderr))
    check_writable_dir(args.out_dir, f"cannot write rows to --out-dir {args.out_dir}")
    rows = curve.run(args.ckpt, protocol=args.protocol, C=args.C, steps=steps, draw_seed=args.draw_seed, data_root=args.data_root,
                     device=pick_device(args.device), cache_dir=args.cache_dir, progress=not args.no_progress, log=log)
    json_path, csv_path = curve.write_rows(rows, args.out_dir)
    png = report.curve_plot(rows, json_path.with_suffix(".png"))
    if not args.json:
        for r in rows:
            print(f"step {r['step']:>8} ({r['images_seen']:>9} images seen): {r['test_accuracy_pct']:.2f}%")
    print(f"rows: {json_path} and {csv_path}; plot: {png}", file=sys.stderr)
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path), "plot": str(png)}


def _common_row(v, ckpt) -> dict:
    from . import checkpoint, runtime

    return {**runtime.provenance(), "variant": v.name, "checkpoint": str(checkpoint.resolve(ckpt))}


def cmd_fidelity(args) -> dict:
    import pandas as pd

    from . import checkpoint, data, fidelity, results
    from . import metrics as registry
    from .runtime import pick_device

    device = pick_device(args.device)
    metrics = [m.name for m in registry.get(m.strip() for m in args.metrics.split(",") if m.strip())]
    # the weights first: a missing file should not cost a model load and a dataset load
    weights = fidelity.resolve_weights(args.inception_weights, args.download)
    check_writable_dir(args.out_dir, f"cannot write rows to --out-dir {args.out_dir}")
    v, netG, _, _ = checkpoint.load_models(args.ckpt, device)
    reference = data.load(args.dataset, args.split, args.data_root, download=args.download, **_pairs(args.data_opt, "--data-opt"))
    reference = data.subset(reference, args.n_real, args.seed)
    result = fidelity.compute(netG, v, reference, args.n, weights, metrics, args.batch_size, device, args.seed, args.cache_dir,
                              args.kid_subset_size, progress=not args.no_progress)
    rows = fidelity.rows(result, _common_row(v, args.ckpt))
    json_path, csv_path = results.write_rows(rows, args.out_dir, "fidelity", "fidelity-rows.csv", fidelity.ROW_FIELDS)
    if not args.json:
        print(pd.DataFrame(rows)[["metric", "value", "std", "n_fake", "n_real", "reference"]].to_string(index=False))
    if not weights.standard:
        print(f"note: {weights.path} (sha256 {weights.sha256[:16]}...) is not the standard Inception file "
              f"({fidelity.STANDARD_INCEPTION['sha256'][:16]}...): these are non-standard feature distances, not FID/IS/KID",
              file=sys.stderr)
    print(f"rows: {json_path} and {csv_path}", file=sys.stderr)
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path)}


def cmd_throughput(args) -> dict:
    import pandas as pd

    from . import checkpoint, data, results, throughput, variants

    netG = netD = None
    if args.ckpt:
        v, netG, netD, _ = checkpoint.load_models(args.ckpt)
    elif args.variant:
        v = variants.get(args.variant, **variants.parse_overrides(args.set or []))
    else:
        raise UserError("give --variant NAME (random-init weights) or --ckpt CKPT")
    if args.batch_size:
        v = dataclasses.replace(v, batch_size=args.batch_size)
    from .runtime import pick_device

    _fast_path(args).check(pick_device(args.device), v.updates)  # an unknown device or a CUDA option on the CPU, before any data
    check_writable_dir(args.out_dir, f"cannot write rows to --out-dir {args.out_dir}")
    images = data.subset(data.load(args.dataset, args.split, args.data_root, **_pairs(args.data_opt, "--data-opt")), args.n_images, seed=0)
    if images.image_size != v.image_size or images.x.shape[-1] != v.nc:
        raise UserError(f"{args.dataset} images are {images.image_size}px with {images.x.shape[-1]} channels; {v.name} takes "
                        f"{v.image_size}px with {v.nc}: choose a matching dataset")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    log = None if args.no_progress else (lambda m: print(m, file=sys.stderr))
    rows = throughput.run(v, images, args.device, stages, _fast_path(args), args.warmup, args.iters, args.repeats, args.workers,
                          args.svm_n, netG, netD, log, ladder=args.ladder)
    json_path, csv_path = results.write_rows(rows, args.out_dir, "throughput", "throughput-rows.csv", throughput.ROW_FIELDS)
    if not args.json:
        cols = ["stage", "items_per_s", "unit", "ratio_to_reference", "gflops_per_item", "tflops_achieved", "peak_fraction", "peak_memory_mb"]
        print(pd.DataFrame(rows).reindex(columns=cols).to_string(index=False))
    print(f"rows: {json_path} and {csv_path}", file=sys.stderr)
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path)}


def cmd_compare(args) -> dict:
    import pandas as pd

    from . import compare

    if args.variants:
        if args.new:
            raise UserError("give either two result sets (BASE NEW) or one with --variants BASE_VARIANT NEW_VARIANT, not both")
        base, new = compare.split_by_variant(compare.load(args.base), *args.variants)
    elif args.new:
        base, new = compare.load(args.base), compare.load(args.new)
    else:
        raise UserError("give two result sets (dcgan compare BASE NEW) or one with --variants BASE_VARIANT NEW_VARIANT")
    verdicts = compare.compare(base, new, alpha=args.alpha)
    if not verdicts:
        raise UserError("the two sides share no measurement (same protocol and metric, fidelity reference or throughput stage)")
    bad = compare.failed(verdicts)
    if not args.json:
        cols = ["kind", "what", "base", "new", "delta", "band", "p_value", "verdict", "gated", "noise"]
        with pd.option_context("display.width", 200, "display.max_colwidth", 60):
            print(pd.DataFrame(verdicts)[cols].to_string(index=False))
    for v in bad:
        print(f"regression: {v['what']}: {v['base']:.4g} -> {v['new']:.4g} ({v['delta']:+.4g}; band {v['band']:.4g}, {v['noise']})",
              file=sys.stderr)
    print(f"{len(bad)} gated regression(s) among {len(verdicts)} shared measurements", file=sys.stderr)
    return {"verdicts": verdicts, "regressions": len(bad), "exit_code": 1 if bad else 0}


def cmd_memorisation(args) -> dict:
    import numpy as np

    from . import checkpoint, data, features, memorisation, nets, results
    from .runtime import pick_device

    tags = _pairs(args.tag, "--tag")  # checked before the work, not after
    device = pick_device(args.device)
    check_writable_dir(args.out_dir, f"cannot write rows to --out-dir {args.out_dir}")  # before the search
    v, netG, netD, state = checkpoint.load_models(args.ckpt, device)
    opts = _pairs(args.data_opt, "--data-opt")
    train = data.load(args.dataset, args.split, args.data_root, download=args.download, **opts)
    held = data.subset(data.load(args.dataset, args.held_out_split, args.data_root, download=args.download, **opts),
                                     args.n_held_out, args.seed)
    if train.image_size != v.image_size:
        raise UserError(f"{args.dataset}/{args.split} images are {train.image_size} px but {v.name} draws {v.image_size} px")
    bn = "batch" if state.get("bn_stats") == "none" else "running"
    samples = nets.sample_images(netG, args.n, args.seed, bn, device=device)
    if samples.shape[-1] != train.x.shape[-1]:
        raise UserError(f"{v.name} draws {samples.shape[-1]}-channel images but {args.dataset} has {train.x.shape[-1]}")
    feats = {}
    if not args.pixels_only:
        progress = not args.no_progress
        f_train, _ = features.cached_features(netD, train, train, "pool", args.cache_dir, device=device, progress=progress)
        net = features.cached_population_stats(netD, train, args.cache_dir, device)
        feats = {"sample_features": features.extract(net, samples, device=device, progress=progress),
                 "held_out_features": features.extract(net, held.x, device=device, progress=progress),
                 "train_features": f_train}
    result = memorisation.check(samples, train, held, device=device, **feats)
    out_dir = Path(args.out_dir)
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")
    base = f"memorisation-{results.stamp()}"
    row = {**_common_row(v, args.ckpt), "dataset": args.dataset, "split": args.split, "held_out": held.split,
           "n_generated": args.n, "n_held_out": len(held), "n_train": len(train), "seed": args.seed, "bn_stats": bn, **tags}
    for space in ("pixels", "features"):
        if space not in result:
            continue
        nearest = result["pixel_nearest" if space == "pixels" else "feature_nearest"]
        png = out_dir / f"{base}-{space}.png"
        pairs = memorisation.closest_pairs_image(samples, train.x, nearest["distance"], nearest["index"], png, args.k)
        row.update({f"{space}_{k}": val for k, val in result[space].items()})
        row[f"{space}_closest_pairs_png"] = str(png)
        row[f"{space}_closest_pairs"] = pairs
    json_path, csv_path = results.write_rows([row], out_dir, "memorisation", "memorisation-rows.csv", list(row))
    for space in ("pixels", "features"):
        if space in result:
            r = result[space]
            print(f"{space}: nearest-training distance, generated median {r['generated_q0.5']:.4g} (min {r['generated_q0']:.4g}) vs "
                  f"held-out median {r['held_out_q0.5']:.4g} (min {r['held_out_q0']:.4g}); "
                  f"{100 * r['frac_generated_below_held_out_q0.01']:.1f}% of samples closer than the held-out 1% quantile; "
                  f"{r['n_generated_exact_copies']} exact copies; closest pairs in {row[space + '_closest_pairs_png']}",
                  file=sys.stderr if args.json else sys.stdout)
    print(f"rows: {json_path} and {csv_path}", file=sys.stderr)
    return {"row": row, "json": str(json_path), "csv": str(csv_path), "samples_shape": list(np.shape(samples))}


def cmd_import_released(args) -> dict:
    from . import released

    path, state = released.import_to(args.folder, args.out, force=args.force)
    v = state["variant"]["name"]
    print(f"imported {v} (released checkpoint {state['step']}, {len(state['released']['sha256'])} arrays) into {path}; "
          "it has no BN running statistics: sampling uses batch statistics", file=sys.stderr)
    return {"checkpoint": str(path), "variant": v, "released_checkpoint": state["step"], "bn_stats": state["bn_stats"]}


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="dataset root (default: $DCGAN_DATA_ROOT)")
    p.add_argument("--data-opt", action="append", metavar="KEY=VALUE", help="a dataset option, e.g. x_key=x32 for npz")


def _run_options(p: argparse.ArgumentParser, out_dir: str, cache: str) -> None:
    """Where rows go, the cache, the device and progress: the same for every measuring command."""
    p.add_argument("--out-dir", default=out_dir, help="where the rows go (CSV appended, one JSON per run)")
    p.add_argument("--cache-dir", help=f"{cache} cache (default: $DCGAN_CACHE or ~/.cache/dcgan-bench)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from . import metrics
    from .svm import SOLVERS
    from .throughput import STAGES

    p = argparse.ArgumentParser(prog="dcgan", description="DCGAN benchmark harness")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a variant on a dataset (resumable)")
    t.add_argument("--variant", required=True, help="a registered variant (see `dcgan variants`)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a variant field, e.g. --set ngf=32 (repeatable)")
    t.add_argument("--dataset", default="digits", help="a registered dataset (see `dcgan datasets`); default: the built-in digits")
    t.add_argument("--split", default="train")
    t.add_argument("--data-root", help="dataset root (default: $DCGAN_DATA_ROOT)")
    t.add_argument("--data-opt", action="append", metavar="KEY=VALUE", help="a dataset option, e.g. x_key=x32 for npz")
    t.add_argument("--download", action="store_true", help="let torchvision download the dataset if it is missing")
    t.add_argument("--steps", type=_positive, required=True, help="total steps of the run (a resumed run continues to this)")
    t.add_argument("--out", required=True, help="run folder (checkpoints, samples, log.csv)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--ckpt-every", type=_positive, default=500)
    t.add_argument("--keep", type=_non_negative, default=3, help="newest checkpoints kept (0: all)")
    t.add_argument("--keep-steps", help="comma-separated steps whose checkpoints are also written and never pruned "
                                        "(e.g. a probe curve's points: 250,500,1000,2000)")
    t.add_argument("--log-every", type=_positive, default=10)
    t.add_argument("--sample-n", type=_positive, default=64, help="images in the fixed-z sample grid")
    t.add_argument("--sheet-epochs", help="comma-separated epochs after which a sample sheet (the fixed z) is kept, e.g. 1,5 as in the paper")
    t.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    t.add_argument("--amp", default="off", choices=["off", "bf16"], help="bf16 autocast (CUDA only)")
    t.add_argument("--channels-last", action="store_true", help="channels_last memory format (for CUDA)")
    t.add_argument("--compile", action="store_true", help="torch.compile the nets (for CUDA)")
    t.add_argument("--fused-adam", action="store_true", help="torch's fused Adam kernels")
    t.add_argument("--cuda-graphs", action="store_true", help="capture the whole step once as a CUDA graph and replay it (CUDA, one process)")
    t.add_argument("--deterministic", action="store_true", help="deterministic cuDNN kernels: a resumed CUDA run equals an uninterrupted one bit for bit")
    t.add_argument("--collapse-steps", type=_non_negative, default=2000, help="stop when D has looked collapsed this many steps (0: never)")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG grid")
    s.add_argument("--ckpt", required=True, help="a ckpt-*.pt file or a run folder (its newest checkpoint)")
    s.add_argument("--n", type=_positive, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="PNG file")
    s.add_argument("--bn-stats", choices=["running", "batch"], help="BN statistics for sampling (default: what the checkpoint records)")
    s.add_argument("--force", action="store_true", help="overwrite --out")
    s.set_defaults(func=cmd_sample)

    f = sub.add_parser("features", help="the paper's discriminator features (4x4 max-pooled conv layers) into an .npy")
    f.add_argument("--ckpt", required=True, help="a ckpt-*.pt file or a run folder")
    f.add_argument("--dataset", required=True)
    f.add_argument("--split", default="train")
    f.add_argument("--data-root", help="dataset root (default: $DCGAN_DATA_ROOT)")
    f.add_argument("--data-opt", action="append", metavar="KEY=VALUE")
    f.add_argument("--out", required=True, help=".npy file (N x feature_dim)")
    f.add_argument("--bn-stats", default="pool", choices=["pool", "running"],
                   help="pool: population statistics estimated on --bn-pool (the paper's recipe); running: the checkpoint's own")
    f.add_argument("--bn-pool", help="DATASET:SPLIT to estimate BN statistics on (default: the labelled pool `dcgan probe` uses for the "
                                     "dataset, its train split shuffled with seed 42 less the validation images, so the features are "
                                     "the ones the probe fits; the train split where no protocol probes the dataset)")
    f.add_argument("--batch-size", type=_positive, default=500)
    f.add_argument("--float16", action="store_true", help="store float16 instead of float32")
    f.add_argument("--cache-dir", help="feature cache (default: $DCGAN_CACHE or ~/.cache/dcgan-bench)")
    f.add_argument("--device", default="auto")
    f.add_argument("--force", action="store_true", help="overwrite --out")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=cmd_features)

    pr = sub.add_parser("probe", help="the paper's L2-SVM probe protocols on D's features, with a random-init control")
    pr.add_argument("--ckpt", help="a ckpt-*.pt file or a run folder")
    pr.add_argument("--random-init", metavar="VARIANT", help="probe a randomly initialised D of VARIANT (seed --control-seed) instead")
    pr.add_argument("--protocol", required=True, help="svhn-1000, cifar10-400 or cifar10-full (comma-separated for several)")
    pr.add_argument("--download", action="store_true", help="let torchvision download the dataset if it is missing")
    pr.add_argument("--data-root", help="dataset root (default: $DCGAN_DATA_ROOT)")
    pr.add_argument("--draws", type=_positive, help="draws per C for choosing C (default: the protocol's)")
    pr.add_argument("--test-draws", type=_positive, help="fresh draws with the chosen C, scored on the test set (default: the protocol's)")
    pr.add_argument("--per-class", type=_positive, help="labels per class in a draw (default: the protocol's, e.g. 400)")
    pr.add_argument("--val-size", type=_positive, help="validation images held out of the training set (default 10000)")
    pr.add_argument("--grid", help="'paper': exactly the paper's 7 values 1e-4 ... 1e-2; or comma-separated C values, searched as given "
                                   "(default: the paper's 7 values, extended by 1-2-5 steps while the chosen C is on an edge)")
    pr.add_argument("--solver", default="ours", choices=list(SOLVERS), help="; ".join(s.description for s in SOLVERS.values()))
    pr.add_argument("--seed", type=int, default=0, help="first draw seed")
    pr.add_argument("--no-control", action="store_true", help="skip the random-init control")
    pr.add_argument("--compare-sklearn", action="store_true",
                    help="benchmark: run the protocol with our solver and with scikit-learn's LinearSVC on the same features; report the speed ratio and agreement")
    pr.add_argument("--control-seed", type=int, default=0)
    _run_options(pr, "results/probe", "feature")
    pr.set_defaults(func=cmd_probe)

    pc = sub.add_parser("probe-curve", help="representation quality over training: a cheap declared probe of each checkpoint of a run, "
                                            "step 0 being the run's own random init")
    pc.add_argument("--ckpt", required=True, help="a run folder (its ckpt-*.pt checkpoints)")
    pc.add_argument("--protocol", default="cifar10-400", help="the protocol whose first draw is fitted (default cifar10-400)")
    pc.add_argument("--C", type=float, help="the fixed C (default: the curve's declared C for the protocol, e.g. 5e-4 for cifar10-400)")
    pc.add_argument("--steps", help="comma-separated checkpoint steps (default: every checkpoint in the folder)")
    pc.add_argument("--draw-seed", type=int, default=0, help="the class-balanced draw fitted at every point")
    pc.add_argument("--data-root", help="dataset root (default: $DCGAN_DATA_ROOT)")
    _run_options(pc, "results/probe", "feature")
    pc.set_defaults(func=cmd_probe_curve)

    fi = sub.add_parser("fidelity", help="IS, FID, KID and precision/recall of G's samples with torch-fidelity")
    fi.add_argument("--ckpt", required=True, help="a ckpt-*.pt file or a run folder")
    fi.add_argument("--dataset", required=True, help="the reference images (a registered dataset)")
    fi.add_argument("--split", default="train")
    _data_options(fi)
    fi.add_argument("--n", type=_positive, default=50000, help="generated samples (default 50000)")
    fi.add_argument("--n-real", type=_positive, help="reference images: a seeded subset of this many (default: the whole split)")
    fi.add_argument("--metrics", default=",".join(metrics.names()), help=f"comma-separated, from: {metrics.help_text()}")
    fi.add_argument("--inception-weights", help="Inception weights file (default: $DCGAN_INCEPTION_WEIGHTS or torch-fidelity's download location)")
    fi.add_argument("--download", action="store_true", help="let torch-fidelity download the Inception weights and torchvision the dataset if missing")
    fi.add_argument("--batch-size", type=_positive, default=64)
    fi.add_argument("--kid-subset-size", type=_positive, default=1000)
    fi.add_argument("--seed", type=int, default=2020, help="z draws (torch-fidelity's rng_seed) and the reference subset")
    _run_options(fi, "results/fidelity", "statistics")
    fi.set_defaults(func=cmd_fidelity)

    m = sub.add_parser("memorisation", help="nearest training images of G's samples, against held-out real images as the baseline")
    m.add_argument("--ckpt", required=True, help="a ckpt-*.pt file or a run folder")
    m.add_argument("--dataset", required=True, help="G's training data (a registered dataset)")
    m.add_argument("--split", default="train", help="the training split searched")
    m.add_argument("--held-out-split", default="test", help="real images never trained on: the baseline")
    _data_options(m)
    m.add_argument("--download", action="store_true", help="let torchvision download the dataset if it is missing")
    m.add_argument("--n", type=_positive, default=1000, help="generated samples")
    m.add_argument("--n-held-out", type=_positive, default=1000, help="held-out images (a seeded subset)")
    m.add_argument("--k", type=_positive, default=16, help="closest pairs shown in the image")
    m.add_argument("--pixels-only", action="store_true", help="skip the discriminator-feature space")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--tag", action="append", metavar="KEY=VALUE",
                   help="an extra column in the row written, e.g. --tag run=baseline (repeatable; a suite labels its rows so)")
    _run_options(m, "results/memorisation", "feature")
    m.set_defaults(func=cmd_memorisation)

    def figure_options(fp, out_help: str):
        fp.add_argument("--ckpt", required=True, help="a ckpt-*.pt file or a run folder")
        fp.add_argument("--out", required=True, help=out_help)
        fp.add_argument("--seed", type=int, default=0)
        fp.add_argument("--scale", type=_positive, default=3, help="pixel upscaling of the written images")
        fp.add_argument("--force", action="store_true", help="write into a folder that is not empty")

    w = sub.add_parser("walk", help="a latent walk through 9 random z (PNG grid and animated GIF)")
    figure_options(w, "output folder")
    w.add_argument("--points", type=_positive, default=9, help="random z walked through")
    w.add_argument("--steps", type=_positive, default=8, help="steps between neighbouring points")
    w.add_argument("--mode", default="linear", choices=["linear", "slerp"])
    w.add_argument("--bn-stats", choices=["running", "batch"])
    w.set_defaults(func=cmd_walk)

    ar = sub.add_parser("arithmetic", help="vector arithmetic on z: a numbered sample sheet, then --expr '1,2,3 - 4,5,6 + 7,8,9'")
    figure_options(ar, "output folder")
    ar.add_argument("--n", type=_positive, default=100, help="samples on the numbered sheet")
    ar.add_argument("--expr", help="concepts as sheet indices, e.g. '1,2,3 - 4,5,6 + 7,8,9' (the paper: 3 exemplars each)")
    ar.add_argument("--noise", type=float, default=0.25, help="the 8 around G(Y) are G(Y + U(-noise, noise))")
    ar.add_argument("--turn-left", help="sheet indices of left-facing exemplars (the paper: 4)")
    ar.add_argument("--turn-right", help="sheet indices of right-facing exemplars (the paper: 4)")
    ar.add_argument("--turn-rows", help="sheet indices the turn vector is applied to, one row each (default 0,1,2,3)")
    ar.add_argument("--steps", type=_positive, default=8, help="steps of the turn along a row")
    ar.add_argument("--bn-stats", choices=["running", "batch"])
    ar.set_defaults(func=cmd_arithmetic)

    vi = sub.add_parser("visualise", help="guided backpropagation of D's last-layer features, beside a random-init D")
    figure_options(vi, "output folder")
    vi.add_argument("--dataset", required=True, help="images searched for each feature's maximal response")
    vi.add_argument("--split", default="train")
    _data_options(vi)
    vi.add_argument("--n-images", type=_positive, default=2000, help="a seeded subset of this many images")
    vi.add_argument("--features", type=_positive, default=6, help="the first N features (the paper: 6)")
    vi.add_argument("--layer", help="a D layer (default: the last conv layer)")
    vi.set_defaults(func=cmd_visualise)

    fo = sub.add_parser("forget", help="drop the feature maps of G that draw the marked object, and draw again")
    figure_options(fo, "output folder")
    fo.add_argument("--boxes", required=True, help='JSON: [{"sample": INDEX, "boxes": [[x0, y0, x1, y1], ...]}, ...] on the numbered sheet')
    fo.add_argument("--n", type=_positive, default=150, help="samples on the sheet the boxes refer to (dcgan arithmetic --n N --seed S draws it)")
    fo.add_argument("--show", type=_positive, default=16, help="fresh samples drawn with and without the drop")
    fo.add_argument("--layer", help="a G layer (default: the last hidden one)")
    fo.add_argument("--bn-stats", choices=["running", "batch"])
    fo.set_defaults(func=cmd_forget)

    tp = sub.add_parser("throughput", help="images/s of a training step (ours and a pytorch/examples-style loop), sampling, features, the SVM")
    tp.add_argument("--variant", help="a registered variant, random-init weights (or give --ckpt)")
    tp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a variant field")
    tp.add_argument("--ckpt", help="a checkpoint instead of --variant")
    tp.add_argument("--dataset", default="digits", help="images to train and extract on (a registered dataset)")
    tp.add_argument("--split", default="train")
    _data_options(tp)
    tp.add_argument("--n-images", type=_positive, default=5000, help="a seeded subset of this many images")
    tp.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, from {','.join(STAGES)}")
    tp.add_argument("--batch-size", type=_positive, help="training batch (default: the variant's)")
    tp.add_argument("--warmup", type=_non_negative, default=3, help="untimed calls first")
    tp.add_argument("--iters", type=_positive, default=10, help="calls per timed window")
    tp.add_argument("--repeats", type=_positive, default=3, help="timed windows (the median is reported, min and max beside it)")
    tp.add_argument("--workers", type=_non_negative, default=2, help="DataLoader workers of the reference loop (pytorch/examples: 2)")
    tp.add_argument("--svm-n", type=_positive, default=1000, help="training samples of the timed SVM solve")
    tp.add_argument("--amp", default="off", choices=["off", "bf16"], help="bf16 autocast for our step (CUDA only)")
    tp.add_argument("--channels-last", action="store_true")
    tp.add_argument("--compile", action="store_true", help="torch.compile our step's networks")
    tp.add_argument("--fused-adam", action="store_true", help="torch's fused Adam for our step")
    tp.add_argument("--cuda-graphs", action="store_true", help="our step captured as a CUDA graph and replayed (CUDA only)")
    tp.add_argument("--ladder", action="store_true", help="also time our step with each fast-path option added in turn "
                                                           "(eager, fused Adam, channels_last, and on CUDA bf16 autocast, torch.compile and CUDA graphs)")
    _run_options(tp, "results/throughput", "feature")
    tp.set_defaults(func=cmd_throughput)

    c = sub.add_parser("compare", help="deltas between two result sets (or two variants in one) with noise-aware verdicts; exit 1 on a gated regression")
    c.add_argument("base", help="the baseline: a results folder or rows JSON file")
    c.add_argument("new", nargs="?", help="the candidate: a results folder or rows JSON file")
    c.add_argument("--variants", nargs=2, metavar=("BASE_VARIANT", "NEW_VARIANT"), help="compare two variants within BASE")
    c.add_argument("--alpha", type=float, default=0.05, help="significance level of the noise test")
    c.set_defaults(func=cmd_compare)

    r = sub.add_parser("import-released", help="import the paper authors' released Theano weights (Newmu/dcgan_code models/)")
    r.add_argument("folder", help="a released model folder, e.g. dcgan_code/models/svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb")
    r.add_argument("--out", required=True, help="the checkpoint file to write")
    r.add_argument("--force", action="store_true", help="overwrite --out")
    r.set_defaults(func=cmd_import_released)

    sub.add_parser("variants", help="list the registered variants").set_defaults(func=cmd_variants)
    sub.add_parser("datasets", help="list the registered datasets").set_defaults(func=cmd_datasets)
    for sp in sub.choices.values():
        sp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except UserError as e:
        print(f"dcgan: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 1)
    except KeyboardInterrupt:
        print("dcgan: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, default=str))
    return result.get("exit_code", 0) if isinstance(result, dict) else 0


if __name__ == "__main__":
    sys.exit(main())
