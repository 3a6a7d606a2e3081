"""Options of the paper's figure commands: `walk`, `arithmetic`, `visualise`, `forget`. ``add``
declares them on the CLI's parser through ``command``."""

from __future__ import annotations

from .. import argtypes as A
from .shared import IMAGES, NAME, _data_options, _figure_options


def add(command) -> None:
    w = command("walk", "a latent walk through 9 random z (PNG grid and animated GIF)")
    _figure_options(w)
    w.add_argument("--points", type=A.count(256), default=9, help="random z walked through")
    w.add_argument(
        "--steps", type=A.count(256), default=8, help="steps between neighbouring points"
    )
    w.add_argument("--mode", default="linear", choices=["linear", "slerp"])

    ar = command(
        "arithmetic",
        "vector arithmetic on z: a numbered sample sheet, then --expr '1,2,3 - 4,5,6 + 7,8,9'",
    )
    _figure_options(ar)
    ar.add_argument("--n", type=A.count(1000), default=100, help="samples on the numbered sheet")
    ar.add_argument(
        "--expr",
        type=A.Text("concepts, e.g. '1,2,3 - 4,5,6 + 7,8,9'"),
        help="concepts as sheet indices, e.g. '1,2,3 - 4,5,6 + 7,8,9' (the paper: 3 exemplars"
        " each)",
    )
    ar.add_argument(
        "--noise",
        type=A.Number(float, 0, 10),
        default=0.25,
        help="the 8 around G(Y) are G(Y + U(-noise, noise))",
    )
    ar.add_argument(
        "--turn-left",
        type=A.Items(A.whole(), "sheet indices"),
        help="sheet indices of left-facing exemplars (the paper: 4)",
    )
    ar.add_argument(
        "--turn-right",
        type=A.Items(A.whole(), "sheet indices"),
        help="sheet indices of right-facing exemplars (the paper: 4)",
    )
    ar.add_argument(
        "--turn-rows",
        type=A.Items(A.whole(), "sheet indices"),
        help="sheet indices the turn vector is applied to, one row each (default 0,1,2,3)",
    )
    ar.add_argument("--steps", type=A.count(256), default=8, help="steps of the turn along a row")

    vi = command(
        "visualise", "guided backpropagation of D's last-layer features, beside a random-init D"
    )
    _figure_options(vi, bn_stats=False)
    vi.add_argument(
        "--dataset",
        required=True,
        type=NAME,
        help="images searched for each feature's maximal response",
    )
    vi.add_argument("--split", default="train", type=NAME)
    _data_options(vi, download=False)
    vi.add_argument(
        "--n-images", type=IMAGES, default=2000, help="a seeded subset of this many images"
    )
    vi.add_argument(
        "--features",
        dest="n_features",
        type=A.count(),
        default=6,
        help="the first N features (the paper: 6)",
    )
    vi.add_argument("--layer", type=NAME, help="a D layer (default: the last conv layer)")

    fo = command("forget", "drop the feature maps of G that draw the marked object, and draw again")
    _figure_options(fo)
    fo.add_argument(
        "--boxes",
        required=True,
        type=A.Existing("file"),
        help='JSON: [{"sample": INDEX, "boxes": [[x0, y0, x1, y1], ...]}, ...] on the '
        "numbered sheet",
    )
    fo.add_argument(
        "--n",
        type=A.count(1000),
        default=150,
        help="samples on the sheet the boxes refer to (dcgan arithmetic --n N --seed S draws it)",
    )
    fo.add_argument(
        "--show",
        type=A.count(256),
        default=16,
        help="fresh samples drawn with and without the drop",
    )
    fo.add_argument("--layer", type=NAME, help="a G layer (default: the last hidden one)")
