"""The report's plots, drawn with matplotlib into PNG files: each run's D and G losses, and the
probe curve (test accuracy against training step, the random-init control beside it)."""

from __future__ import annotations

import csv
from pathlib import Path

from .tables import curve_table


def loss_curves(logs: dict[str, Path], out: Path) -> Path | None:
    """D and G losses over steps from each run's log.csv, one panel each, into a PNG."""
    logs = {k: Path(p) for k, p in logs.items() if Path(p).exists()}
    if not logs:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(logs), figsize=(5 * len(logs), 3.2), squeeze=False)
    for ax, (label, path) in zip(axes[0], logs.items(), strict=True):
        with open(path) as f:
            records = list(csv.DictReader(f))
        steps = [int(r["step"]) for r in records]
        for key in ("loss_d", "loss_g"):
            ax.plot(steps, [float(r[key]) for r in records], label=key)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def curve_plot(rows: list[dict], out) -> Path | None:
    """Test accuracy against training step (images seen on the top axis), one line per run;
    step 0, the run's own random init, is the control point."""
    df = curve_table(list(rows))
    if df.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    per_image = None
    for (run, protocol, C), g in df.groupby(["run", "protocol", "C"], sort=False):
        g = g.sort_values("step")
        ax.plot(
            g["step"],
            g["test accuracy %"],
            marker="o",
            label=f"{run} ({protocol}, C = {C:g}, one draw)",
        )
        ax.scatter(
            g["step"][g["step"] == 0],
            g["test accuracy %"][g["step"] == 0],
            s=90,
            facecolors="none",
            edgecolors="k",
        )
        seen = g[g["step"] > 0]
        if len(seen):
            per_image = float(seen["images seen"].iloc[0]) / float(seen["step"].iloc[0])
    ax.set_xlabel("training step (circled: step 0, the run's random init)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if per_image:
        top = ax.secondary_xaxis(
            "top", functions=(lambda s: s * per_image, lambda n: n / per_image)
        )
        top.set_xlabel("images seen")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)
