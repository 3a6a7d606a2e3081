"""Ingestion of image files (a raw ImageNet tree, its train tar, any folder): each image decoded
and preprocessed the paper's way in parallel worker processes, in resumable chunks cached on disk
(a killed ingestion continues where it stopped), corrupt files listed and skipped, and tars
extracted safely (no path may leave the destination).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import atomic, cache
from ..errors import UserError
from .images import ImageSet

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
INGEST_CHUNK = 10_000  # files decoded per resumable chunk
# PIL modes an image file may have, named for the ingestion report (anything not RGB is converted)
GREY_MODES = {
    "L": "greyscale",
    "LA": "greyscale with alpha",
    "1": "black and white",
    "I;16": "16-bit greyscale",
    "CMYK": "CMYK",
    "P": "palette",
    "RGBA": "RGB with alpha",
    "I": "32-bit greyscale",
    "YCbCr": "YCbCr",
}
# Bumped whenever the JPEG-tree preprocessing changes, so old caches are never reused.
PREPROCESS_VERSION = "minresize-bilinear-centercrop/1"


def preprocess_image(data: bytes, size: int, modes: list | None = None) -> np.ndarray:
    """The paper's ImageNet recipe: shorter side resized to ``size`` (bilinear, without
    antialiasing, as OpenCV's INTER_LINEAR in the authors' code), then a centre crop. The file's
    own colour mode is appended to ``modes`` when given (ImageNet holds greyscale and CMYK
    JPEGs)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if modes is not None:
            modes.append(im.mode)
        im = im.convert("RGB")  # greyscale, CMYK and palette images become RGB
        arr = np.asarray(im)
    h, w = arr.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    t = torch.from_numpy(arr).permute(2, 0, 1)[None].float()
    t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    t = t[0, :, top : top + size, left : left + size]
    return t.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _preprocess_file(args: tuple[str, int]) -> tuple[np.ndarray, str] | str:
    path, size = args
    try:
        with open(path, "rb") as f:
            modes: list[str] = []
            return preprocess_image(f.read(), size, modes), modes[0]
    except Exception as e:  # a corrupt file is reported, not fatal
        return f"{type(e).__name__}: {e}"


def _init_worker():
    torch.set_num_threads(1)


def ingest_files(
    files: list[Path],
    labels: np.ndarray | None,
    size: int,
    name: str,
    split: str,
    source: str,
    cache_dir: Path | None = None,
    workers: int | None = None,
    classes: list[str] | None = None,
) -> ImageSet:
    """Decode and preprocess image files in parallel into a cached uint8 array.

    The cache key hashes every file's path, size and mtime with the recipe, so a changed
    tree is decoded again and an unchanged one never is. Corrupt files are skipped, counted,
    listed in the report beside the cache, and named on stderr.
    """
    from ..progress import bar as progress_bar

    h = hashlib.sha256(f"{PREPROCESS_VERSION}|{size}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    key = h.hexdigest()[:16]
    folder = cache.root(cache_dir)
    base = folder / f"{name}-{split}-{size}px-{key}"
    x_path, y_path, report_path = (
        base.with_suffix(".x.npy"),
        base.with_suffix(".y.npy"),
        base.with_suffix(".json"),
    )
    if x_path.exists() and report_path.exists():
        report = json.loads(report_path.read_text())
        x = np.load(x_path, allow_pickle=False)
        y = np.load(y_path, allow_pickle=False) if labels is not None else None
        return ImageSet(x, y, name, split, f"{source} (cache {x_path})", report.get("classes"))

    folder.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    # Decoded in chunks, each saved when done: an interrupted ingestion resumes at the first
    # unfinished chunk (the chunk files carry the same key, so a changed tree starts afresh).
    chunks = [
        range(i, min(i + INGEST_CHUNK, len(files))) for i in range(0, len(files), INGEST_CHUNK)
    ]
    parts = []
    t0, decoded_now = time.perf_counter(), 0
    bar = progress_bar(total=len(files), desc=f"decoding {name}/{split}", unit="img")
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        for k, chunk in enumerate(chunks):
            part_path = base.with_suffix(f".part{k:05d}.npz")
            if not part_path.exists():
                images, keep, modes, corrupt = [], [], [], []
                for i, r in zip(
                    chunk,
                    pool.map(
                        _preprocess_file, [(str(files[i]), size) for i in chunk], chunksize=64
                    ),
                    strict=True,
                ):
                    if isinstance(r, str):
                        corrupt.append({"file": str(files[i]), "error": r})
                    else:
                        images.append(r[0])
                        keep.append(i)
                        modes.append(r[1])
                    bar.update(1)
                decoded_now += len(chunk)
                x_part = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
                with atomic.replacing(part_path) as tmp:
                    np.savez(
                        tmp,
                        x=x_part,
                        keep=np.asarray(keep, np.int64),
                        modes=np.asarray(modes, dtype=str),
                        corrupt=np.asarray(json.dumps(corrupt)),
                    )
            else:
                bar.update(len(chunk))
            parts.append(part_path)
    bar.close()
    seconds = time.perf_counter() - t0
    xs, keep, modes, corrupt = [], [], [], []
    for part_path in parts:
        with np.load(part_path, allow_pickle=False) as d:
            xs.append(d["x"])
            keep += d["keep"].tolist()
            modes += d["modes"].tolist()
            corrupt += json.loads(str(d["corrupt"]))
    if not keep:
        raise UserError(
            f"none of the {len(files)} image files under {source} could be decoded; check the files"
        )
    if corrupt:
        shown = ", ".join(Path(c["file"]).name for c in corrupt[:5])
        print(
            f"warning: skipped {len(corrupt)} corrupt image file(s) of {len(files)}"
            f" ({shown}{', ...' if len(corrupt) > 5 else ''}); list in {report_path}",
            file=sys.stderr,
        )
    converted = {
        m: [str(files[i]) for i, mm in zip(keep, modes, strict=True) if mm == m]
        for m in sorted(set(modes) - {"RGB"})
    }
    if converted:
        print(
            "note: converted to RGB: "
            + ", ".join(f"{len(v)} {GREY_MODES.get(m, m)}" for m, v in converted.items()),
            file=sys.stderr,
        )
    x = np.concatenate(xs)
    y = labels[keep] if labels is not None else None
    # an interrupted run leaves no half-written cache
    for path, arr in ((x_path, x), (y_path, y)):
        if arr is not None:
            with atomic.replacing(path) as tmp:
                np.save(tmp, arr)
    report = {
        "source": source,
        "files": len(files),
        "decoded": len(keep),
        "corrupt": corrupt,
        "size": size,
        "recipe": PREPROCESS_VERSION,
        "classes": classes,
        "converted_to_rgb": {
            GREY_MODES.get(m, m): {"mode": m, "count": len(v), "files": v}
            for m, v in converted.items()
        },
        "decoded_this_run": decoded_now,
        "seconds_this_run": round(seconds, 2),
        "workers": workers,
        "images_per_s_this_run": round(decoded_now / seconds, 1)
        if decoded_now and seconds > 0
        else None,
    }
    atomic.write_text(report_path, json.dumps(report, indent=1))
    for part_path in parts:  # the final cache holds everything now
        part_path.unlink()
    return ImageSet(x, y, name, split, source, classes)


def image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


TRAIN_TAR = "ILSVRC2012_img_train.tar"  # a tar of 1000 per-class tars, n01440764.tar, ...


def safe_extract(tar: tarfile.TarFile, dest: Path, what: str) -> None:
    """Extract regular files and folders only, all inside ``dest``: absolute paths, ``..``,
    links and devices are refused (the standard library's "data" filter where it has one)."""
    try:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
            return
        dest_real = os.path.realpath(dest)
        for m in tar.getmembers():
            target = os.path.realpath(os.path.join(dest, m.name))
            if (
                not (m.isfile() or m.isdir())
                or os.path.commonpath([dest_real, target]) != dest_real
            ):
                raise tarfile.TarError(f"unsafe member {m.name!r}")
        tar.extractall(dest)
    except (tarfile.TarError, OSError) as e:
        raise UserError(
            f"{what}: refusing to extract ({e}); the archive is damaged or unsafe, fetch it again"
        ) from None


def extract_train_tar(path: Path, dest: Path) -> Path:
    """ILSVRC2012_img_train.tar -> ``dest/<wnid>/*.JPEG``, one class at a time; a class already
    extracted (its ``.done`` marker) is skipped, so an interrupted extraction resumes."""
    from ..progress import bar as progress_bar

    dest.mkdir(parents=True, exist_ok=True)
    try:
        outer = tarfile.open(path)
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"{path} is not a readable tar file ({e}); fetch it again") from None
    with outer:
        members = [m for m in outer.getmembers() if m.isfile() and m.name.endswith(".tar")]
        for m in progress_bar(members, desc=f"extracting {path.name}", unit="class"):
            wnid = Path(m.name).stem
            if not wnid.isalnum():  # a class tar's name becomes a folder name: plain names only
                raise UserError(
                    f"{path}: unexpected member {m.name!r} (class tars are named like"
                    " n01440764.tar)"
                )
            folder = dest / wnid
            if (folder / ".done").exists():
                continue
            with tarfile.open(fileobj=outer.extractfile(m)) as inner:
                safe_extract(inner, folder, f"{path}:{m.name}")
            (folder / ".done").write_text("")
    return dest
