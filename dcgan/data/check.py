"""What data is there before any work (`dcgan data`, and the main job before a suite): for each
dataset and split a run or a probe needs, where the harness looks, what it found (the images
loaded and checked as a run loads them: count, size, labels; the published checksum where one
exists), and for a missing one the exact files and how to get them. With ``download`` it lets
torchvision fetch what it can (CIFAR-10, SVHN, checksummed); ImageNet is the user's own copy.
"""

from __future__ import annotations

from pathlib import Path

from .. import data, protocols, results
from ..errors import UserError

# how to get what the harness cannot download (shown when a dataset is missing)
HOW_TO_GET = {
    "cifar10": "`dcgan data --download` (torchvision fetches cifar-10-python.tar.gz, md5-checked),"
    " or put cifar10_{split}.npz (uint8 'x', labels 'y') in the data root",
    "svhn": "`dcgan data --download` (torchvision fetches {split}_32x32.mat, md5-checked)",
    "imagenet32": "sign in at image-net.org, download 'Downsampled ImageNet 32x32'"
    " (Imagenet32_train.zip, Imagenet32_val.zip) and unzip train_data_batch_1..10 and val_data"
    " into the data root",
    "imagenet64": "sign in at image-net.org, download 'Downsampled ImageNet 64x64' and unzip"
    " train_data_batch_1..10 and val_data into the data root",
    "imagenet": "sign in at image-net.org, download ILSVRC2012_img_{split}.tar and put it (or its"
    " <split>/<wnid>/*.JPEG tree) in the data root",
}
DOWNLOADABLE = ("cifar10", "svhn")


def needs(datasets=(), protocol_names=()) -> list[tuple[str, str, str]]:
    """(dataset, split, what needs it), once each: the training split of each dataset trained
    on, and the training and test splits of each protocol probed."""
    out: dict[tuple[str, str], list[str]] = {}
    for name in datasets:
        out.setdefault((name, "train"), []).append("training")
    for p in protocol_names:
        proto = protocols.get(p)
        out.setdefault((proto.dataset, "train"), []).append(f"{p} (labelled pool)")
        out.setdefault((proto.dataset, proto.test_split), []).append(f"{p} (test)")
    return [(d, s, ", ".join(why)) for (d, s), why in out.items()]


def everything() -> list[tuple[str, str, str]]:
    """What the paper's protocols and every dataset that needs a data root would read."""
    trained = [n for n in data.names() if data.spec(n).needs_root and n not in ("npz", "folder")]
    return needs(trained, list(protocols.PROTOCOLS))


def check(wanted: list[tuple[str, str, str]], root=None, download: bool = False) -> list[dict]:
    """One row per (dataset, split): found or not, what was found, what to do."""
    root = data.resolve_root(root)
    roots = results.machine_roots(root)
    rows = []
    for name, split, why in wanted:
        row = {
            "dataset": name,
            "split": split,
            "needed_for": why,
            "looks_for": data.spec(name).description,
        }
        try:
            images = data.load(name, split, root, download=download and name in DOWNLOADABLE)
        except UserError as e:
            how = HOW_TO_GET.get(name, "").replace("{split}", split)
            row.update(found=False, problem=results.portable(str(e), roots), how_to_get=how)
        else:
            row.update(
                found=True,
                images=len(images),
                image_size=images.image_size,
                labelled=images.y is not None,
                source=results.portable(str(images.source), roots),
                checksum=checksum(name, split, root, images.source),
            )
        rows.append(row)
    return rows


def checksum(name: str, split: str, root, source: str = "") -> str:
    """The published checksum's verdict where the files are the published ones (torchvision's
    CIFAR-10 batches, SVHN's .mat files), or the data root's own SHA256SUMS where it lists the
    file read; else why there is none."""
    import hashlib

    from torchvision.datasets import CIFAR10, SVHN
    from torchvision.datasets.utils import check_integrity

    root = Path(root) if root else None
    sums = root / "SHA256SUMS" if root is not None else None
    if sums is not None and sums.is_file() and Path(source).is_file():
        listed = dict(
            reversed(line.split(maxsplit=1)) for line in sums.read_text().splitlines() if line
        )
        expected = listed.get(
            str(Path(source).relative_to(root)) if Path(source).is_relative_to(root) else ""
        )
        if expected:
            digest = hashlib.sha256()
            with open(source, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            ok = digest.hexdigest() == expected.strip()
            return "sha256 ok (SHA256SUMS)" if ok else "sha256 MISMATCH (SHA256SUMS)"
    if name == "svhn" and root is not None:
        _, filename, md5 = SVHN.split_list[split]
        return "md5 ok" if check_integrity(str(root / filename), md5) else "md5 MISMATCH"
    if name == "cifar10" and root is not None and (root / CIFAR10.base_folder).is_dir():
        files = CIFAR10.train_list if split == "train" else CIFAR10.test_list
        ok = all(check_integrity(str(root / CIFAR10.base_folder / f), md5) for f, md5 in files)
        return "md5 ok" if ok else "md5 MISMATCH"
    return "no published checksum for this copy"


def table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        if r["found"]:
            labels = "labelled" if r["labelled"] else "no labels"
            what = (
                f"found: {r['images']} images of {r['image_size']} px, {labels}; {r['checksum']};"
                f" {r['source']}"
            )
        else:
            what = f"MISSING: {r['problem']}" + (
                f" -> {r['how_to_get']}" if r["how_to_get"] else ""
            )
        lines.append(f"{r['dataset']}/{r['split']} (for {r['needed_for']}): {what}")
    found = sum(r["found"] for r in rows)
    lines.append(f"{found} of {len(rows)} dataset splits found")
    return "\n".join(lines)
