"""How much the JPEG in our CIFAR-10 copy can cost a probe: the evidence behind the K-means
calibration (README, "Any feature extractor through the probe").

    python bench/jpeg_generation.py again SRC DEST
        DEST/cifar10_{train,test}.npz: SRC's copy (../shared/data: already JPEG q75 4:2:0) put
        through one more JPEG generation, each image edge-padded by 4 px so the 8x8 blocks fall
        across the first encoding's, saved at quality 75 with 4:2:0 chroma (PIL's default),
        decoded and cropped back; prints this generation's PSNR beside the first one's (the 200
        lossless originals against the copy). `dcgan probe --data-root DEST` then measures what
        a generation costs.
    python bench/jpeg_generation.py distortion STATE SRC DEST
        how far each generation moves the K-means features of the 200 images whose lossless
        originals SRC holds: generation 0 -> 1 (the copy), 1 -> 2 (DEST), with the fitted
        state STATE (an extractor-state .npz of the K-means extractor), in standardised units,
        beside the median distance between two different images.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

from dcgan.errors import UserError


def again(x: np.ndarray) -> np.ndarray:
    """One more JPEG q75 4:2:0 generation of uint8 NHWC images, its grid offset by 4 px."""
    from PIL import Image

    out = np.empty_like(x)
    for i, image in enumerate(x):
        padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="edge")
        buf = io.BytesIO()
        Image.fromarray(padded).save(buf, format="JPEG", quality=75, subsampling="4:2:0")
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))[4:-4, 4:-4]
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()
    return float(10 * np.log10(255**2 / mse))


NEEDED = ("cifar10_train.npz", "cifar10_test.npz", "cifar10_train_first200_lossless.npz")


def _check_source(src: Path) -> None:
    for name in NEEDED:
        if not (src / name).is_file():
            raise UserError(f"{src / name} is missing; point SRC at the shared data folder")


def write_again(src: Path, dest: Path) -> None:
    _check_source(src)
    for split in ("train", "test"):
        if (dest / f"cifar10_{split}.npz").exists():
            raise UserError(f"{dest / f'cifar10_{split}.npz'} exists; give a new or empty DEST")
    dest.mkdir(parents=True, exist_ok=True)
    lossless = np.load(src / "cifar10_train_first200_lossless.npz")
    for split in ("train", "test"):
        z = np.load(src / f"cifar10_{split}.npz")
        x2 = again(z["x"])
        line = f"{split}: the new generation against the copy {psnr(x2, z['x']):.2f} dB"
        if split == "train":
            idx, x0 = lossless["train_index"], lossless["x"]
            line += f"; the copy against the lossless originals {psnr(z['x'][idx], x0):.2f} dB"
        print(line)
        np.savez(
            dest / f"cifar10_{split}.npz",
            x=x2,
            y=z["y"],
            source=f"{z['source']}; then JPEG q75 4:2:0 again, grid offset 4 px (bench/"
            "jpeg_generation.py: a second lossy generation)",
        )


def distortion(state: Path, src: Path, dest: Path) -> None:
    from dcgan.extractors import kmeans

    for path in (state, dest / "cifar10_train.npz"):
        if not path.is_file():
            raise UserError(f"{path} is missing (STATE: an extractor-state .npz; DEST: `again`'s)")
    _check_source(src)

    with np.load(state, allow_pickle=False) as z:
        encode = kmeans.Encoder(z["centroids"], z["M"], z["P"])
    lossless = np.load(src / "cifar10_train_first200_lossless.npz")
    idx = lossless["train_index"]
    generations = [
        lossless["x"],
        np.load(src / "cifar10_train.npz")["x"][idx],
        np.load(dest / "cifar10_train.npz")["x"][idx],
    ]
    f = [
        np.concatenate([encode(x[i : i + 4]).numpy() for i in range(0, len(x), 4)])
        for x in generations
    ]
    mean, sd = f[1].mean(0), np.sqrt(f[1].var(0, ddof=1) + kmeans.STANDARDISE_EPS)
    f = [(g - mean) / sd for g in f]
    n = len(idx)
    between = np.median([np.linalg.norm(f[0][i] - f[0][j]) for i in range(n) for j in range(i)])
    d01 = np.linalg.norm(f[1] - f[0], axis=1).mean()
    d12 = np.linalg.norm(f[2] - f[1], axis=1).mean()
    print(
        f"standardised K-means features of {n} images: generation 0 -> 1 moves them {d01:.2f},"
        f" 1 -> 2 {d12:.2f} (ratio {d01 / d12:.2f}); two different images lie {between:.2f}"
        " apart (median)"
    )


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "again":
            write_again(Path(argv[1]), Path(argv[2]))
        elif len(argv) == 4 and argv[0] == "distortion":
            distortion(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        else:
            print(
                "jpeg_generation: error: usage: `again SRC DEST` or `distortion STATE SRC DEST`"
                " (bench/jpeg_generation.py's docstring says what each does)",
                file=sys.stderr,
            )
            return 2
    except UserError as e:
        print(f"jpeg_generation: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
