"""The main job's options (`python bench/run.py --help`), declared as data as dcgan's are
(dcgan/options/spec.py) and checked by the same types (dcgan/argtypes.py)."""

from __future__ import annotations

from bench import parallel, suites
from dcgan import argtypes as A
from dcgan.options.shared import summary
from dcgan.options.spec import Option, option


def declared() -> tuple[Option, ...]:
    """Every option of the main job, in `--help` order."""
    return (
        option("--suite", default="quick", choices=sorted(suites.SUITES)),
        option(
            "--scale",
            default="full",
            choices=("full", "cpu", "smoke"),
            help="full: the suite as declared; cpu: the choices suite overnight on a 2-core"
            " CPU; smoke: every cell at toy sizes (the paper suite on stand-in data from"
            " bench/standin.py), proving the route runs",
        ),
        option(
            "--inception-weights",
            metavar="PTH",
            type=A.Existing("file"),
            help="fidelity cells: this Inception weights file instead of the standard one "
            "(rows from other weights are never called FID/IS/KID)",
        ),
        option(
            "--only",
            default="",
            help="comma-separated: cells matching any token (kind=probe, variant=dcgan32, seed=1, "
            "kind=probe+seed=1 for both, or a substring of a cell id such as "
            "'dcgan32-r1[ngf=32,ndf=32,batch_size=64]/cifar10/seed1'); the training they need "
            "runs too",
        ),
        option(
            "--runs",
            default="runs/bench",
            type=A.Folder(),
            help="run folders and the cell cache (reused and resumed)",
        ),
        option(
            "--results",
            default="results",
            type=A.Folder(),
            help="rows and reports go to RESULTS/<suite>/ (appended, never overwritten)",
        ),
        option(
            "--released",
            type=A.Existing("folder"),
            help="the released suite: the folder holding the authors' model folders "
            "(dcgan_code's models/; default: <data root>/released)",
        ),
        option(
            "--list",
            action="store_true",
            help="list the cells and whether each has finished; run nothing",
        ),
        option(
            "--check-data",
            action="store_true",
            help="check the data the suite needs (found, or how to get it) and name the cells that"
            " cannot run; run nothing (exit 1 when some cannot)",
        ),
        option(
            "--candidate",
            type=A.Text("a variant name"),
            help="quick suite: a second variant run beside the baseline, with the baseline's"
            " overrides",
        ),
        option(
            "--candidate-set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="an override of the candidate",
        ),
        option(
            "--compare",
            action="store_true",
            help="then `dcgan compare` the candidate against the baseline; exit 1 on a gated"
            " regression",
        ),
        summary("with --compare:"),
        option(
            "--workers",
            type=A.count(),
            default=1,
            help="cells run at a time, each in a process of its own pinned to its own GPU where"
            " there are GPUs (a probe still waits for its training); with --launcher slurm, jobs"
            " in the queue at a time. On a CPU, workers share the cores: set OMP_NUM_THREADS to"
            " split them",
        ),
        option(
            "--launcher",
            default="local",
            choices=parallel.LAUNCHERS,
            help="local: processes on this machine; slurm: one Slurm job per cell, through submitit"
            " (run where sbatch is); submitit-local: submitit's route on this machine, to try it",
        ),
        option(
            "--slurm-partition", type=A.Text("a partition name"), help="the Slurm jobs' partition"
        ),
        option(
            "--slurm-minutes",
            type=A.count(),
            help=f"a cell's job time limit in minutes (default {parallel.Launch.minutes}); a cell"
            " cut off resumes at the next run",
        ),
        option(
            "--slurm-gpus",
            type=A.whole(0),
            help=f"GPUs per job (default {parallel.Launch.gpus})",
        ),
        option(
            "--slurm-cpus",
            type=A.count(),
            help=f"CPU cores per job (default {parallel.Launch.cpus})",
        ),
    )
