"""The registry listings: `dcgan variants`, `dcgan datasets`, `dcgan extractors`. Each returns
its rows (what `--json` prints) and, unless ``as_json``, prints them as a table first."""

from __future__ import annotations


def variants(as_json: bool = False) -> dict:
    from . import variants as registry

    rows = {
        name: {**registry.get(name).summary(), "group": registry.group(name)}
        for name in registry.names()
    }
    if not as_json:
        for name, r in rows.items():
            size = f"{r['image_size']:>3d}px  nz={r['nz']:<3d} features={r['feature_dim']:<6d}"
            print(f"{name:16s} {r['group']:8s} {size} {r['description']}")
    return {"variants": rows}


def extractors(as_json: bool = False) -> dict:
    from . import extractors as registry

    rows = registry.listing()
    if not as_json:
        for e in rows:
            print(f"{e['name']}: {e['description']}")
            for setting in e["settings"]:
                print(f"    --set {setting}")
        print("module.path:callable: a user encoder, a torch.nn.Module (or a callable returning")
        print("    one) mapping images in [-1, 1] (NCHW) to features; no settings")
    return {"extractors": rows}


def datasets(as_json: bool = False) -> dict:
    from . import data

    rows = {name: data.spec(name).summary() for name in data.names()}
    if not as_json:
        for name, r in rows.items():
            print(f"{name:11s} splits={','.join(r['splits']):18s} {r['description']}")
        print(f"\nRoots come from --data-root or ${data.DATA_ROOT_ENV}.")
    return {"datasets": rows}
