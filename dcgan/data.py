"""Dataset registry: every dataset loads to uint8 NHWC images (+ int64 labels where they exist).

Formats read: CIFAR-10 (the ``.npz`` files of ../shared/data, or torchvision's
``cifar-10-batches-py``), SVHN (torchvision's ``.mat`` files), downsampled ImageNet
(Chrabaszcz et al. 2017 batch files, pickled or ``.npz``), a raw ImageNet tree of class folders
of JPEGs, an ``.npz`` of arrays, any folder of images, and scikit-learn's bundled handwritten
digits as the offline default.

Roots come from the caller or ``DCGAN_DATA_ROOT``. Anything missing or malformed raises
``UserError`` with one line saying what was expected where.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import sys
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import atomic, cache
from .errors import UserError

DATA_ROOT_ENV = "DCGAN_DATA_ROOT"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
INGEST_CHUNK = 10_000  # files decoded per resumable chunk
# PIL modes an image file may have, named for the ingestion report (anything not RGB is converted)
GREY_MODES = {"L": "greyscale", "LA": "greyscale with alpha", "1": "black and white", "I;16": "16-bit greyscale",
              "CMYK": "CMYK", "P": "palette", "RGBA": "RGB with alpha", "I": "32-bit greyscale", "YCbCr": "YCbCr"}
# Bumped whenever the JPEG-tree preprocessing changes, so old caches are never reused.
PREPROCESS_VERSION = "minresize-bilinear-centercrop/1"


@dataclass
class ImageSet:
    """Images as uint8 (N, H, W, C), labels as int64 (N,) or None."""

    x: np.ndarray
    y: np.ndarray | None
    name: str
    split: str
    source: str  # where the data came from, for the record
    classes: list[str] | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.x.dtype != np.uint8 or self.x.ndim != 4 or self.x.shape[-1] not in (1, 3):
            raise UserError(
                f"{self.name}/{self.split} from {self.source}: images must be uint8 (N, H, W, 3); got {self.x.dtype} {self.x.shape}"
            )
        if self.y is not None and len(self.y) != len(self.x):
            raise UserError(f"{self.name}/{self.split} from {self.source}: {len(self.y)} labels for {len(self.x)} images")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def image_size(self) -> int:
        return self.x.shape[1]

    def fingerprint(self) -> str:
        """A hash of the pixels and labels: caches and resume checks key on the content, not the name."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr((self.x.shape, None if self.y is None else self.y.shape)).encode())
            h.update(np.ascontiguousarray(self.x).data)
            if self.y is not None:
                h.update(np.ascontiguousarray(self.y, dtype=np.int64).data)
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def describe(self) -> dict:
        return {
            "dataset": self.name, "split": self.split, "n": len(self), "image_size": self.image_size,
            "labelled": self.y is not None, "fingerprint": self.fingerprint(), "source": self.source,
        }


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: Callable[..., ImageSet]
    splits: tuple[str, ...]
    description: str
    needs_root: bool = True
    options: tuple[str, ...] = ()  # extra keyword options the loader accepts
    recipe: str = ""  # how the stored images become training pictures: written into every suite row (PROTOCOL.md §1)

    def summary(self) -> dict:
        """What `dcgan datasets` lists."""
        return {"splits": list(self.splits), "description": self.description, "needs_root": self.needs_root,
                "options": list(self.options)}


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY:  # as variants.register: a second entry would silently replace the first
        raise ValueError(f"dataset {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def names() -> list[str]:
    return list(_REGISTRY)


def spec(name: str) -> DatasetSpec:
    if name not in _REGISTRY:
        raise UserError(f"unknown dataset {name!r}; registered datasets: {', '.join(names())}")
    return _REGISTRY[name]


def resolve_root(root: str | os.PathLike | None) -> Path | None:
    root = root if root is not None else os.environ.get(DATA_ROOT_ENV) or None
    return Path(root).expanduser() if root is not None else None


def load(name: str, split: str = "train", root: str | os.PathLike | None = None, download: bool = False, **options) -> ImageSet:
    """Load dataset ``name``/``split`` from ``root`` (or ``$DCGAN_DATA_ROOT``)."""
    s = spec(name)
    if split not in s.splits:
        raise UserError(f"dataset {name!r} has no split {split!r}; splits: {', '.join(s.splits)}")
    unknown = sorted(set(options) - set(s.options))
    if unknown:
        allowed = ", ".join(s.options) or "none"
        raise UserError(f"dataset {name!r} takes no option(s) {', '.join(unknown)}; options: {allowed}")
    path = resolve_root(root)
    if s.needs_root:
        if path is None:
            raise UserError(f"dataset {name!r} needs a data root: pass --data-root DIR or set {DATA_ROOT_ENV}")
        if not path.exists():
            raise UserError(f"data root {path} does not exist (dataset {name!r}); pass --data-root with an existing path")
    return s.loader(path, split, download=download, **options)


def subset(images: ImageSet, n: int | None, seed: int) -> ImageSet:
    """The first ``n`` images of a seeded permutation, in their original order (all of them when
    n is None or not smaller); its split name says which subset it is."""
    if n is None or n >= len(images):
        return images
    if n < 2:
        raise UserError(f"a subset of {images.name}/{images.split} needs at least 2 images; got {n}")
    idx = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    return ImageSet(images.x[idx], None if images.y is None else images.y[idx], images.name,
                    f"{images.split}[{n} of {len(images)}, seed {seed}]", images.source, images.classes)


def to_model_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC images (a tensor on any device) -> float NCHW in [-1, 1]: x/127.5 - 1."""
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_rgb(x: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) greyscale -> (N, H, W, 3); RGB passes through."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 NHWC images resized to ``size`` (bilinear, antialiased when shrinking)."""
    if x.shape[1] == size and x.shape[2] == size:
        return x
    out = np.empty((len(x), size, size, x.shape[-1]), np.uint8)
    for i in range(0, len(x), 1024):
        t = torch.from_numpy(x[i:i + 1024]).permute(0, 3, 1, 2).float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[1])
        out[i:i + 1024] = t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def _load_npz_arrays(path: Path, x_key: str = "x", y_key: str = "y") -> tuple[np.ndarray, np.ndarray | None, dict]:
    try:
        with np.load(path, allow_pickle=False) as d:
            if x_key not in d.files:
                raise UserError(f"{path} has no array {x_key!r} (it has {', '.join(d.files)}); images must be under {x_key!r}")
            x = d[x_key]
            y = d[y_key] if y_key in d.files else None
            extra = {k: d[k] for k in ("classes",) if k in d.files}
    except UserError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError (object arrays), OSError
        raise UserError(f"{path} is not a readable .npz of plain arrays ({type(e).__name__}: {e}); re-create it with numpy.savez") from None
    if x.dtype != np.uint8:
        raise UserError(f"{path}: {x_key!r} must be uint8 images (N, H, W, 3) in 0..255; got {x.dtype} {x.shape}")
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise UserError(f"{path}: {x_key!r} must be (N, H, W, 3) or greyscale (N, H, W); got shape {x.shape}")
    if x.shape[1] != x.shape[2]:  # the nets and the 4x4 feature grid take square images
        raise UserError(f"{path}: {x_key!r} images are {x.shape[1]}x{x.shape[2]}; they must be square (crop or resize them first)")
    if y is not None and len(np.asarray(y).reshape(-1)) != len(x):
        raise UserError(f"{path}: {len(np.asarray(y).reshape(-1))} labels {y_key!r} for {len(x)} images; they must match one to one")
    if y is not None:
        y = np.asarray(y).astype(np.int64).reshape(-1)
    return to_rgb(x), y, extra


# --- cifar10 ---------------------------------------------------------------------------------

def _load_cifar10(root: Path, split: str, download: bool = False) -> ImageSet:
    npz = root / f"cifar10_{split}.npz"
    if npz.exists():
        x, y, extra = _load_npz_arrays(npz)
        classes = [str(c) for c in extra["classes"]] if "classes" in extra else None
        return ImageSet(x, y, "cifar10", split, str(npz), classes)
    tv_dir = root / "cifar-10-batches-py"
    if tv_dir.exists() or download:
        from torchvision.datasets import CIFAR10

        # torchvision checks every batch file against the official MD5 before reading it
        try:
            ds = CIFAR10(str(root), train=split == "train", download=download)
        except RuntimeError as e:  # torchvision: missing or corrupt batch files
            raise UserError(f"{tv_dir}: {e} (re-download with --download or use cifar10_{split}.npz)") from None
        except OSError as e:  # no network (URLError is an OSError)
            raise UserError(f"could not download CIFAR-10 into {root} ({e}); put cifar10_{split}.npz or cifar-10-batches-py/ there") from None
        return ImageSet(np.asarray(ds.data), np.asarray(ds.targets, np.int64), "cifar10", split, str(tv_dir), list(ds.classes))
    raise UserError(
        f"no CIFAR-10 under {root}: expected cifar10_{split}.npz or torchvision's cifar-10-batches-py/ (add --download to fetch it)"
    )


register(DatasetSpec("cifar10", _load_cifar10, ("train", "test"), "CIFAR-10: cifar10_{split}.npz or torchvision's cifar-10-batches-py/", recipe="CIFAR-10 as released, 32x32"))


# --- svhn ------------------------------------------------------------------------------------

def _load_svhn(root: Path, split: str, download: bool = False) -> ImageSet:
    name = f"{split}_32x32.mat"
    candidates = [root / name, root / "svhn" / name]
    path = next((p for p in candidates if p.exists()), None)
    if path is None and download:
        from torchvision.datasets import SVHN

        try:
            SVHN(str(root), split=split, download=True)
        except OSError as e:  # no network (URLError is an OSError)
            raise UserError(f"could not download SVHN {split} into {root} ({e}); put {name} there") from None
        path = root / name
    if path is None:
        raise UserError(f"no SVHN {split} split: expected {candidates[0]} (torchvision's format; add --download to fetch it)")
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
        X, y = mat["X"], mat["y"]
    except Exception as e:
        raise UserError(f"{path} is not a readable SVHN .mat file with arrays X and y ({type(e).__name__}: {e}); download it again") from None
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.dtype != np.uint8:
        raise UserError(f"{path}: X must be uint8 (32, 32, 3, N) as in SVHN's format; got {X.dtype} {X.shape}")
    y = np.asarray(y, np.int64).reshape(-1)
    y[y == 10] = 0  # SVHN stores digit 0 as label 10
    return ImageSet(np.ascontiguousarray(X.transpose(3, 0, 1, 2)), y, "svhn", split, str(path), [str(i) for i in range(10)])


register(DatasetSpec("svhn", _load_svhn, ("train", "test", "extra"), "SVHN: torchvision's {split}_32x32.mat files (label 10 -> digit 0)", recipe="SVHN as released, 32x32"))


# --- downsampled ImageNet (Chrabaszcz et al. 2017) ---------------------------------------------

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Reads the downsampled-ImageNet batch pickles, which hold only numpy arrays, lists and
    numbers; any other global in the file is refused, so a hostile file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _read_imagenet_batch(path: Path) -> dict:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as d:
                return {k: d[k] for k in d.files}
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(io.BufferedReader(f), encoding="latin1").load()
    except Exception as e:
        raise UserError(f"{path} is not a downsampled-ImageNet batch file ({type(e).__name__}: {e}); download it again") from None


def _load_downsampled_imagenet(size: int) -> Callable[..., ImageSet]:
    def load_batches(root: Path, split: str, download: bool = False) -> ImageSet:
        stems = [f"train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["val_data"]
        dirs = [root, root / f"Imagenet{size}_{split}", root / f"imagenet{size}"]
        files = []
        for stem in stems:
            found = [d / n for d in dirs for n in (stem, stem + ".npz") if (d / n).exists()]
            files += found[:1]
        if not files:
            raise UserError(f"no downsampled ImageNet {size}x{size} {split} files under {root}: expected {stems[0]} (or {stems[0]}.npz), as in Imagenet{size}_{split}.zip")
        xs, ys = [], []
        for path in files:
            d = _read_imagenet_batch(path)
            if "data" not in d or "labels" not in d:
                raise UserError(f"{path}: expected keys 'data' and 'labels'; got {', '.join(map(str, d))}")
            data = np.asarray(d["data"])
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * size * size:
                raise UserError(f"{path}: 'data' must be uint8 (N, {3 * size * size}) for {size}x{size} images; got {data.dtype} {data.shape}")
            # rows are channel planes (all R, then G, then B), each row-major
            xs.append(data.reshape(-1, 3, size, size).transpose(0, 2, 3, 1))
            ys.append(np.asarray(d["labels"], np.int64).reshape(-1) - 1)  # labels are 1-based
        x, y = np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)
        if y.min() < 0 or y.max() > 999:
            raise UserError(f"downsampled ImageNet labels under {root} must be 1..1000; got {y.min() + 1}..{y.max() + 1}")
        return ImageSet(x, y, f"imagenet{size}", split, f"{len(files)} batch file(s) under {files[0].parent}")

    return load_batches


register(DatasetSpec("imagenet32", _load_downsampled_imagenet(32), ("train", "val"), "downsampled ImageNet 32x32 batch files (train_data_batch_1..10, val_data)", recipe="Imagenet32 (squashed, not the paper's crops): Chrabaszcz et al.'s whole images box-filtered to 32x32"))
register(DatasetSpec("imagenet64", _load_downsampled_imagenet(64), ("train", "val"), "downsampled ImageNet 64x64 batch files (train_data_batch_1..10, val_data)", recipe="Imagenet64 (squashed, not the paper's crops): whole images box-filtered to 64x64"))


# --- image files: a raw ImageNet tree, or any folder ------------------------------------------

def preprocess_image(data: bytes, size: int, modes: list | None = None) -> np.ndarray:
    """The paper's ImageNet recipe: shorter side resized to ``size`` (bilinear, without
    antialiasing, as OpenCV's INTER_LINEAR in the authors' code), then a centre crop. The file's
    own colour mode is appended to ``modes`` when given (ImageNet holds greyscale and CMYK JPEGs)."""
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
    t = t[0, :, top:top + size, left:left + size]
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


def ingest_files(files: list[Path], labels: np.ndarray | None, size: int, name: str, split: str, source: str,
                 cache_dir: Path | None = None, workers: int | None = None, classes: list[str] | None = None) -> ImageSet:
    """Decode and preprocess image files in parallel into a cached uint8 array.

    The cache key hashes every file's path, size and mtime with the recipe, so a changed
    tree is decoded again and an unchanged one never is. Corrupt files are skipped, counted,
    listed in the report beside the cache, and named on stderr.
    """
    from .progress import bar as progress_bar

    h = hashlib.sha256(f"{PREPROCESS_VERSION}|{size}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    key = h.hexdigest()[:16]
    folder = cache.root(cache_dir)
    base = folder / f"{name}-{split}-{size}px-{key}"
    x_path, y_path, report_path = base.with_suffix(".x.npy"), base.with_suffix(".y.npy"), base.with_suffix(".json")
    if x_path.exists() and report_path.exists():
        report = json.loads(report_path.read_text())
        x = np.load(x_path, allow_pickle=False)
        y = np.load(y_path, allow_pickle=False) if labels is not None else None
        return ImageSet(x, y, name, split, f"{source} (cache {x_path})", report.get("classes"))

    folder.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    # Decoded in chunks, each saved when done: an interrupted ingestion resumes at the first
    # unfinished chunk (the chunk files carry the same key, so a changed tree starts afresh).
    chunks = [range(i, min(i + INGEST_CHUNK, len(files))) for i in range(0, len(files), INGEST_CHUNK)]
    parts = []
    t0, decoded_now = time.perf_counter(), 0
    bar = progress_bar(total=len(files), desc=f"decoding {name}/{split}", unit="img")
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        for k, chunk in enumerate(chunks):
            part_path = base.with_suffix(f".part{k:05d}.npz")
            if not part_path.exists():
                images, keep, modes, corrupt = [], [], [], []
                for i, r in zip(chunk, pool.map(_preprocess_file, [(str(files[i]), size) for i in chunk], chunksize=64), strict=True):
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
                    np.savez(tmp, x=x_part, keep=np.asarray(keep, np.int64), modes=np.asarray(modes, dtype=str),
                             corrupt=np.asarray(json.dumps(corrupt)))
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
        raise UserError(f"none of the {len(files)} image files under {source} could be decoded; check the files")
    if corrupt:
        shown = ", ".join(Path(c["file"]).name for c in corrupt[:5])
        print(f"warning: skipped {len(corrupt)} corrupt image file(s) of {len(files)} ({shown}{', ...' if len(corrupt) > 5 else ''}); list in {report_path}", file=sys.stderr)
    converted = {m: [str(files[i]) for i, mm in zip(keep, modes, strict=True) if mm == m] for m in sorted(set(modes) - {"RGB"})}
    if converted:
        print("note: converted to RGB: " + ", ".join(f"{len(v)} {GREY_MODES.get(m, m)}" for m, v in converted.items()), file=sys.stderr)
    x = np.concatenate(xs)
    y = labels[keep] if labels is not None else None
    # an interrupted run leaves no half-written cache
    for path, arr in ((x_path, x), (y_path, y)):
        if arr is not None:
            with atomic.replacing(path) as tmp:
                np.save(tmp, arr)
    report = {"source": source, "files": len(files), "decoded": len(keep), "corrupt": corrupt, "size": size,
              "recipe": PREPROCESS_VERSION, "classes": classes,
              "converted_to_rgb": {GREY_MODES.get(m, m): {"mode": m, "count": len(v), "files": v} for m, v in converted.items()},
              "decoded_this_run": decoded_now, "seconds_this_run": round(seconds, 2), "workers": workers,
              "images_per_s_this_run": round(decoded_now / seconds, 1) if decoded_now and seconds > 0 else None}
    atomic.write_text(report_path, json.dumps(report, indent=1))
    for part_path in parts:  # the final cache holds everything now
        part_path.unlink()
    return ImageSet(x, y, name, split, source, classes)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


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
            if not (m.isfile() or m.isdir()) or os.path.commonpath([dest_real, target]) != dest_real:
                raise tarfile.TarError(f"unsafe member {m.name!r}")
        tar.extractall(dest)
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"{what}: refusing to extract ({e}); the archive is damaged or unsafe, fetch it again") from None


def extract_train_tar(path: Path, dest: Path) -> Path:
    """ILSVRC2012_img_train.tar -> ``dest/<wnid>/*.JPEG``, one class at a time; a class already
    extracted (its ``.done`` marker) is skipped, so an interrupted extraction resumes."""
    from .progress import bar as progress_bar

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
                raise UserError(f"{path}: unexpected member {m.name!r} (class tars are named like n01440764.tar)")
            folder = dest / wnid
            if (folder / ".done").exists():
                continue
            with tarfile.open(fileobj=outer.extractfile(m)) as inner:
                safe_extract(inner, folder, f"{path}:{m.name}")
            (folder / ".done").write_text("")
    return dest


def _load_imagenet_tree(root: Path, split: str, download: bool = False, size: int | str = 32, cache_dir: str | None = None,
                        workers: int | str | None = None) -> ImageSet:
    if split == "train" and (root / TRAIN_TAR).is_file() and not (root / "train").is_dir():
        # the tar as downloaded: extracted (safely, resumably) into the cache, then read as a tree
        root = extract_train_tar(root / TRAIN_TAR, cache.root(cache_dir) / "imagenet-extracted" / "train").parent
    folder = root / split if (root / split).is_dir() else root
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
    if not class_dirs:
        raise UserError(f"no ImageNet class folders under {folder}: expected {folder}/<wnid>/*.JPEG (the ILSVRC-2012 train tree) "
                        f"or {root / TRAIN_TAR}")
    files, labels = [], []
    for label, d in enumerate(class_dirs):
        found = _image_files(d)
        files += found
        labels += [label] * len(found)
    if not files:
        raise UserError(f"the class folders under {folder} hold no image files (.JPEG, .png, ...)")
    return ingest_files(files, np.asarray(labels, np.int64), int(size), "imagenet", split, str(folder), cache_dir,
                        int(workers) if workers else None, [d.name for d in class_dirs])


register(DatasetSpec("imagenet", _load_imagenet_tree, ("train", "val"),
                     "raw ILSVRC-2012 tree <root>/<split>/<wnid>/*.JPEG, min-resized + centre-cropped, cached",
                     options=("size", "cache_dir", "workers"),
                     recipe="min-resized (bilinear, as OpenCV INTER_LINEAR) centre crops: the paper's recipe"))


def _load_folder(root: Path, split: str, download: bool = False, size: int | str = 32, cache_dir: str | None = None,
                 workers: int | str | None = None) -> ImageSet:
    if not root.is_dir():
        raise UserError(f"{root} is not a folder of images")
    files = _image_files(root)
    if not files:
        raise UserError(f"no image files (.jpg, .png, ...) under {root}")
    return ingest_files(files, None, int(size), "folder", split, str(root), cache_dir, int(workers) if workers else None)


register(DatasetSpec("folder", _load_folder, ("train",), "any folder of images (LSUN-style), unlabelled, min-resized + centre-cropped, cached",
                     options=("size", "cache_dir", "workers"), recipe="min-resized (bilinear) centre crops"))


# --- npz -------------------------------------------------------------------------------------

def _load_npz(root: Path, split: str, download: bool = False, x_key: str = "x", y_key: str = "y") -> ImageSet:
    path = root if root.is_file() else root / f"{split}.npz"
    if not path.exists():
        raise UserError(f"no {path}: give --data-root a .npz file, or a folder holding {split}.npz")
    x, y, extra = _load_npz_arrays(path, x_key, y_key)
    classes = [str(c) for c in extra["classes"]] if "classes" in extra else None
    return ImageSet(x, y, "npz", split, str(path), classes)


register(DatasetSpec("npz", _load_npz, ("train", "test", "val"), "an .npz with uint8 images 'x' (N, H, W, 3) and optional labels 'y'",
                     options=("x_key", "y_key"), recipe="the .npz's images as stored"))


# --- the built-in offline default ------------------------------------------------------------

def _load_digits(root: Path | None, split: str, download: bool = False) -> ImageSet:
    """scikit-learn's bundled handwritten digits (real scans, 8x8, 17 grey levels), upscaled
    to 32x32 RGB. Needs no file and no network: the default of the offline main job."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images * (255.0 / 16.0)).round().astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    x = resize_images(to_rgb(x), 32)
    y = d.target.astype(np.int64)
    part = {"train": slice(0, 1500), "test": slice(1500, None), "all": slice(None)}[split]
    return ImageSet(np.ascontiguousarray(x[part]), y[part], "digits", split, "sklearn.datasets.load_digits (bundled)",
                    [str(i) for i in range(10)])


register(DatasetSpec("digits", _load_digits, ("train", "test", "all"),
                     "built in, offline: scikit-learn's handwritten digits at 32x32 (train = first 1500 of 1797)", needs_root=False,
                     recipe="scikit-learn's 8x8 digits upscaled to 32x32"))
