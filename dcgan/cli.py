"""`dcgan <command>`: parse, call the command's one library function, print. Progress and
messages go to stderr, results to stdout (`--json`: one object). Every command's work lives in
its stage module and can be called from Python with the same result.

Bad input is reported as one line, ``dcgan: error: ...``, with a non-zero exit and no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from . import cache, listings, lock
from .errors import UserError


def _pairs(items: list[str], what: str) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{what} {item!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out


def _ints(text: str | None, what: str, example: str = "e.g. 1,5") -> tuple[int, ...]:
    try:
        return tuple(int(e) for e in (text or "").split(",") if e.strip())
    except ValueError:
        raise UserError(
            f"{what} must be comma-separated whole numbers, {example}; got {text!r}"
        ) from None


def _kw(args, names: str) -> dict:
    """The options named in ``names`` (space-separated), as keyword arguments of the library
    function they feed: one string keeps each command a few lines long."""
    return {name: getattr(args, name) for name in names.split()}


def _data(args) -> dict:
    return {"data_root": args.data_root, "data_options": _pairs(args.data_opt, "--data-opt")}


def _log(args):
    return (lambda msg: None) if args.no_progress else (lambda msg: print(msg, file=sys.stderr))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _fast_path(args):
    from .step import FastPath

    return FastPath(args.amp, args.channels_last, args.compile, args.fused_adam, args.cuda_graphs)


def _table(rows: list[dict], cols: list[str]) -> str:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        return pd.DataFrame(rows).reindex(columns=cols).to_string(index=False)


def cmd_train(args) -> dict:
    from pathlib import Path

    from . import variants
    from .training.config import TrainConfig
    from .training.loop import train

    cfg = TrainConfig(
        variant=variants.get(args.variant, **variants.parse_overrides(args.set or [])),
        out=Path(args.out),
        **_kw(
            args,
            "steps dataset split data_root download seed ckpt_every keep log_every sample_n"
            " resume device deterministic collapse_steps",
        ),
        data_options=_pairs(args.data_opt, "--data-opt"),
        sheet_epochs=_ints(args.sheet_epochs, "--sheet-epochs"),
        keep_steps=_ints(args.keep_steps, "--keep-steps"),
        fast=_fast_path(args),
        progress=not args.no_progress,
        tensorboard=not args.no_tensorboard,
    )
    result = train(cfg)
    if result["rank"] != 0:  # under torchrun, the first process speaks for all
        args.json = False
        return result
    procs = f" x {result['processes']} processes" if result["processes"] > 1 else ""
    r = result
    _say(
        f"trained {r['variant']} on {r['dataset']}/{r['split']} to step {r['steps']}"
        f" ({r['images_per_s']:.0f} images/s on {r['device']}{procs}); checkpoint {r['checkpoint']}"
    )
    return result


def cmd_data(args) -> dict:
    from .data import check as datacheck

    if args.datasets or args.protocols:
        wanted = datacheck.needs(
            args.datasets.split(",") if args.datasets else (),
            args.protocols.split(",") if args.protocols else (),
        )
    else:
        wanted = datacheck.everything()
    rows = datacheck.check(wanted, args.data_root, download=args.download)
    if not args.json:
        print(datacheck.table(rows))
    missing = sum(not r["found"] for r in rows)
    return {"datasets": rows, "missing": missing, "exit_code": 1 if missing else 0}


def _figure(function: str, options: str, with_data: bool = False):
    """A figure command: ``paper_figures.<function>`` fed the options named in ``options``."""

    def command(args) -> dict:
        from . import paper_figures

        return getattr(paper_figures, function)(
            **_kw(args, options), **(_data(args) if with_data else {})
        )

    return command


def cmd_features(args) -> dict:
    from . import feature_export

    result = feature_export.export_features(
        **_kw(
            args,
            "ckpt dataset out split bn_stats bn_pool batch_size float16 cache_dir device force",
        ),
        extractor=args.features,
        sets=args.set,
        **_data(args),
        progress=not args.no_progress,
    )
    r = result
    _say(
        f"wrote {r['shape'][0]} x {r['shape'][1]} features of {r['variant']}"
        f" ({r.get('bn_stats') or r.get('fitted_on')}) to"
        f" {r['out']}{' (from the cache)' if r['cached'] else ''}"
    )
    return result


def cmd_probe(args) -> dict:
    from . import results
    from .probing import command, solvers_compared
    from .probing import rows as probe_rows
    from .reporting import compare

    result = command.probe_weights(
        args.protocol,
        **_kw(
            args,
            "ckpt random_init draws test_draws val_size per_class grid solver seed control_seed"
            " compare_sklearn data_root download out_dir cache_dir device",
        ),
        extractor_spec=args.features,
        sets=args.set,
        control=not args.no_control,
        progress=not args.no_progress,
        log=_log(args),
    )
    if args.compare_sklearn:
        _say(solvers_compared.describe_comparison(result))
        return result
    if not args.json:
        print(probe_rows.table(result["rows"]).to_string(index=False))
    # the headline, in the words of the main job's report: each trained D's figure against its
    # random-init control (an extractor's rows, and a run with --no-control, have none)
    control = {r["protocol"]: r for r in result["rows"] if results.kind_of(r) == results.CONTROL}
    for r in result["rows"]:
        if results.kind_of(r) == results.MEASURED and r["protocol"] in control:
            _say(f"{r['protocol']}: {compare.against_control(r, control[r['protocol']])}")
    _say(f"rows: {result['json']} and {result['csv']}")
    return result


def cmd_probe_curve(args) -> dict:
    from . import curve
    from .runtime import pick_device

    # no --steps: every checkpoint
    steps = list(_ints(args.steps, "--steps", "e.g. 500,1000")) if args.steps else None
    result = curve.probe_run(
        args.ckpt,
        protocol=args.protocol,
        steps=steps,
        device=pick_device(args.device),
        progress=not args.no_progress,
        log=_log(args),
        **_kw(args, "out_dir C draw_seed data_root cache_dir"),
    )
    if not args.json:
        for r in result["rows"]:
            seen = f"({r['images_seen']:>9} images seen)"
            print(f"step {r['step']:>8} {seen}: {r['test_accuracy_pct']:.2f}%")
    _say(f"rows: {result['json']} and {result['csv']}; plot: {result['plot']}")
    return result


def cmd_fidelity(args) -> dict:
    from .quality import fidelity

    result = fidelity.score_checkpoint(
        **_kw(
            args,
            "ckpt dataset split download n n_real inception_weights batch_size kid_subset_size"
            " seed out_dir cache_dir device",
        ),
        **_data(args),
        metrics=[m.strip() for m in args.metrics.split(",") if m.strip()],
        progress=not args.no_progress,
    )
    if not args.json:
        print(_table(result["rows"], ["metric", "value", "std", "n_fake", "n_real", "reference"]))
    note = result.pop("weights").note()
    if note:
        _say(note)
    _say(f"rows: {result['json']} and {result['csv']}")
    return result


def cmd_throughput(args) -> dict:
    from . import throughput, variants

    variant = (
        variants.get(args.variant, **variants.parse_overrides(args.set or []))
        if args.variant and not args.ckpt
        else None
    )
    result = throughput.benchmark(
        variant,
        **_kw(
            args,
            "ckpt dataset split n_images batch_size device out_dir warmup iters repeats workers"
            " svm_n ladder",
        ),
        **_data(args),
        stages=[s.strip() for s in args.stages.split(",") if s.strip()],
        fast=_fast_path(args),
        log=None if args.no_progress else _say,
    )
    if not args.json:
        print(_table(result["rows"], throughput.TABLE_COLUMNS))
    _say(f"rows: {result['json']} and {result['csv']}")
    return result


def cmd_compare(args) -> dict:
    from .reporting import compare

    base, new = compare.sides(args.base, args.new, args.variants)
    result = compare.judge(base, new, alpha=args.alpha)
    if not args.json:
        print(compare.table_text(result["verdicts"]))
    for line in compare.summary(result["verdicts"]):
        _say(line)
    for path in compare.write_summary(result["verdicts"], args.summary):
        _say(f"summary: {path}")
    return result


def cmd_memorisation(args) -> dict:
    from .quality import memorisation

    tags = _pairs(args.tag, "--tag")  # checked before the work, not after
    result = memorisation.run(
        **_kw(
            args,
            "ckpt dataset split held_out_split download n n_held_out k pixels_only seed out_dir"
            " cache_dir device",
        ),
        **_data(args),
        tags=tags,
        progress=not args.no_progress,
    )
    for line in memorisation.describe(result["row"]):
        print(line, file=sys.stderr if args.json else sys.stdout)
    _say(f"rows: {result['json']} and {result['csv']}")
    return result


def cmd_import_released(args) -> dict:
    from . import released

    path, state = released.import_to(args.folder, args.out, force=args.force)
    v = state["variant"]["name"]
    _say(
        f"imported {v} (released checkpoint {state['step']}, {len(state['released']['sha256'])}"
        f" arrays) into {path}; it has no BN running statistics: sampling uses batch statistics"
    )
    return {
        "checkpoint": str(path),
        "variant": v,
        "released_checkpoint": state["step"],
        "bn_stats": state["bn_stats"],
    }


COMMANDS = {
    "train": cmd_train,
    "sample": _figure("sample", "ckpt out n seed bn_stats force"),
    "features": cmd_features,
    "probe": cmd_probe,
    "probe-curve": cmd_probe_curve,
    "fidelity": cmd_fidelity,
    "memorisation": cmd_memorisation,
    "walk": _figure("walk", "ckpt out points steps mode seed scale bn_stats force"),
    "arithmetic": _figure(
        "arithmetic",
        "ckpt out n seed expr noise turn_left turn_right turn_rows steps scale bn_stats force",
    ),
    "visualise": _figure(
        "visualise",
        "ckpt out dataset split n_images n_features layer seed scale force",
        with_data=True,
    ),
    "forget": _figure("forget", "ckpt out boxes n show layer seed scale bn_stats force"),
    "throughput": cmd_throughput,
    "compare": cmd_compare,
    "import-released": cmd_import_released,
    "data": cmd_data,
    "variants": lambda args: listings.variants(args.json),
    "datasets": lambda args: listings.datasets(args.json),
    "extractors": lambda args: listings.extractors(args.json),
}


def _hold_outputs(parser, args, held: contextlib.ExitStack) -> None:
    """The folders the command writes into (its --out-dir, or an --out declared as a folder)
    are each held by this process alone while it runs (dcgan/lock.py); a folder made for an
    output file the command then never writes is removed."""
    from . import argtypes, distributed, options

    if not distributed.first_process():
        return  # under torchrun the first process holds the run folder for all of them
    for dest in options.outputs(parser, args.command, argtypes.Folder):
        if getattr(args, dest):
            held.enter_context(lock.hold(getattr(args, dest), f"--{dest.replace('_', '-')}"))
    for dest in options.outputs(parser, args.command, argtypes.NewFile):
        if getattr(args, dest):
            held.enter_context(lock.leave_no_empty(Path(getattr(args, dest)).parent))


# commands that only list registries or read result files: no cache
LISTINGS = ("variants", "datasets", "extractors", "compare")


def build_parser() -> argparse.ArgumentParser:
    from .options import build_parser

    return build_parser(list(COMMANDS))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command not in LISTINGS:  # every other command may read or fill the cache
            cache.check_writable(getattr(args, "cache_dir", None))
        with contextlib.ExitStack() as held:
            _hold_outputs(parser, args, held)
            result = COMMANDS[args.command](args)
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
