"""Options of the paper's figure commands: `walk`, `arithmetic`, `visualise`, `forget`, declared
as data (spec.py)."""

from __future__ import annotations

from .. import argtypes as A
from .shared import IMAGES, NAME, SPLIT, data, figure
from .spec import Command, command, option


def commands() -> tuple[Command, ...]:
    sheet_indices = A.Items(A.whole(), "sheet indices")
    walk = command(
        "walk",
        "a latent walk through 9 random z (PNG grid and animated GIF)",
        figure(),
        option("--points", type=A.count(256), default=9, help="random z walked through"),
        option("--steps", type=A.count(256), default=8, help="steps between neighbouring points"),
        option("--mode", default="linear", choices=["linear", "slerp"]),
    )
    arithmetic = command(
        "arithmetic",
        "vector arithmetic on z: a numbered sample sheet, then --expr '1,2,3 - 4,5,6 + 7,8,9'",
        figure(),
        option("--n", type=A.count(1000), default=100, help="samples on the numbered sheet"),
        option(
            "--expr",
            type=A.Text("concepts, e.g. '1,2,3 - 4,5,6 + 7,8,9'"),
            help="concepts as sheet indices, e.g. '1,2,3 - 4,5,6 + 7,8,9' (the paper: 3"
            " exemplars each)",
        ),
        option(
            "--noise",
            type=A.Number(float, 0, 10),
            default=0.25,
            help="the 8 around G(Y) are G(Y + U(-noise, noise))",
        ),
        option(
            "--turn-left",
            type=sheet_indices,
            help="sheet indices of left-facing exemplars (the paper: 4)",
        ),
        option(
            "--turn-right",
            type=sheet_indices,
            help="sheet indices of right-facing exemplars (the paper: 4)",
        ),
        option(
            "--turn-rows",
            type=sheet_indices,
            help="sheet indices the turn vector is applied to, one row each (default 0,1,2,3)",
        ),
        option("--steps", type=A.count(256), default=8, help="steps of the turn along a row"),
    )
    visualise = command(
        "visualise",
        "guided backpropagation of D's last-layer features, beside a random-init D",
        figure(bn_stats=False),
        option(
            "--dataset",
            required=True,
            type=NAME,
            help="images searched for each feature's maximal response",
        ),
        SPLIT,
        data(download=False),
        option("--n-images", type=IMAGES, default=2000, help="a seeded subset of this many images"),
        option(
            "--features",
            dest="n_features",
            type=A.count(),
            default=6,
            help="the first N features (the paper: 6)",
        ),
        option("--layer", type=NAME, help="a D layer (default: the last conv layer)"),
    )
    forget = command(
        "forget",
        "drop the feature maps of G that draw the marked object, and draw again",
        figure(),
        option(
            "--boxes",
            required=True,
            type=A.Existing("file"),
            help='JSON: [{"sample": INDEX, "boxes": [[x0, y0, x1, y1], ...]}, ...] on the '
            "numbered sheet",
        ),
        option(
            "--n",
            type=A.count(1000),
            default=150,
            help="samples on the sheet the boxes refer to (dcgan arithmetic --n N --seed S draws"
            " it)",
        ),
        option(
            "--show",
            type=A.count(256),
            default=16,
            help="fresh samples drawn with and without the drop",
        ),
        option("--layer", type=NAME, help="a G layer (default: the last hidden one)"),
    )
    return walk, arithmetic, visualise, forget
