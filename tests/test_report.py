import re

import pandas as pd

from dcgan.reporting import document, tables


def probe_rows():
    common = {"feature_dim": 28672, "time": "2026-11-22T10:00:00+0000"}
    return [
        {
            **common,
            "protocol": "cifar10-400",
            "variant": "imagenet32",
            "seed": 0,
            "weights": "step 400",
            "source": "measured",
            "value": 61.234,
            "ci95": 0.512,
        },
        {
            **common,
            "protocol": "cifar10-full",
            "variant": "imagenet32",
            "seed": 0,
            "weights": "step 400",
            "source": "measured",
            "value": 70.0,
            "ci95": None,
        },
        {
            **common,
            "protocol": "cifar10-400",
            "variant": "imagenet32",
            "weights": "random init (seed 0)",
            "source": "measured (control)",
            "value": 53.2,
            "ci95": 0.4,
        },
        {
            "protocol": "cifar10-400",
            "variant": "DCGAN + L2-SVM",
            "weights": "",
            "source": "quoted from the paper (PROTOCOL.md §6), not measured",
            "value": 73.8,
            "ci95": 0.4,
        },
        {
            "protocol": "cifar10-full",
            "variant": "DCGAN + L2-SVM",
            "weights": "",
            "source": "quoted from the paper (PROTOCOL.md §6), not measured",
            "value": 82.8,
            "ci95": None,
        },
        {
            "protocol": "svhn-1000",
            "variant": "KNN",
            "weights": "",
            "source": "quoted from the paper (PROTOCOL.md §6), not measured",
            "value": 77.93,
            "ci95": None,
        },
    ]


def test_table1_has_the_papers_layout_with_measured_control_and_quoted_rows():
    df = tables.table1(probe_rows())
    assert list(df.columns) == [
        "model",
        "Accuracy",
        "Accuracy ±",
        "Accuracy (400 per class)",
        "Accuracy (400 per class) ±",
        "max # of features units",
        "source",
    ]
    assert list(df["model"]) == [
        "imagenet32 seed 0 (step 400)",
        "imagenet32 (random init (seed 0))",
        "DCGAN + L2-SVM",
    ]
    assert list(df["source"]) == ["measured", "control", "paper (quoted, not measured)"]
    first = df.iloc[0]
    assert (
        first["Accuracy"] == 70.0
        and first["Accuracy (400 per class)"] == 61.234
        and first["max # of features units"] == 28672
    )
    # the control ran one protocol only: the other cell stays empty
    assert pd.isna(df.iloc[1]["Accuracy"])
    shown = tables.display(df)
    assert (
        shown.iloc[0]["Accuracy (400 per class)"] == "61.23 ± 0.51"
        and shown.iloc[2]["Accuracy"] == "82.80"
    )


def test_a_later_run_supersedes_an_earlier_one_in_the_table():
    rows = probe_rows()
    later = {**rows[0], "value": 62.0, "time": "2026-11-23T10:00:00+0000"}
    df = tables.table1(rows + [later])
    assert df.iloc[0]["Accuracy (400 per class)"] == 62.0 and len(df) == 3


def test_write_leaves_out_paper_tables_with_nothing_measured_and_never_overwrites(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("step,loss_d,loss_g\n10,1.2,0.8\n20,1.0,1.1\n")
    png = tmp_path / "samples.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(png)
    throughput = [
        {
            "variant": "dcgan32",
            "device_name": "CPU",
            "stage": "train",
            "items_per_s": 500.0,
            "items_per_s_min": 450.0,
            "items_per_s_max": 520.0,
            "unit": "images",
            "ratio_to_reference": 1.1,
            "peak_fraction": None,
            "batch_size": 128,
        }
    ]
    fidelity = [
        {
            "variant": "dcgan32",
            "checkpoint": "c.pt",
            "metric": "KID",
            "value": None,
            "note": "not computed: weights missing",
        }
    ]
    a = document.write(
        tmp_path / "r",
        "quick",
        probe=probe_rows(),
        fidelity=fidelity,
        throughput=throughput,
        images={"samples": png},
        loss_logs={"run": log},
        notes=["suite quick"],
    )
    b = document.write(tmp_path / "r", "quick", probe=probe_rows())
    assert a["folder"] != b["folder"] and a["html"].exists() and b["html"].exists()
    # Table 2 has only quoted rows: left out
    assert "table1-cifar10" in a and "table2-svhn" not in a
    assert {"generative", "throughput", "loss_curves"} <= set(a) and "throughput" not in b
    md = a["markdown"].read_text()
    assert (
        "| imagenet32 seed 0 (step 400) " in md
        and "| 28672 " in md
        and "not computed: weights missing" in md
    )
    page = a["html"].read_text()
    assert page.count("data:image/png;base64,") == 2 and "Table 1: CIFAR-10" in page
    assert pd.read_csv(a["throughput"])["× reference"].tolist() == [1.1]


def test_a_cell_that_could_not_be_measured_says_why_in_its_table():
    rows = probe_rows() + [
        {
            "protocol": "cifar10-400",
            "variant": "imagenet32",
            "weights": "authors' released weights",
            "source": "not measured",
            "value": None,
            "note": "not measured: missing 30_gen_params.jl_01.npy",
            "time": "2026-11-22T10:00:00+0000",
        }
    ]
    df = tables.table1(rows)
    line = df[df["model"] == "imagenet32 (authors' released weights)"].iloc[0]
    assert line["source"] == "not measured" and pd.isna(line["Accuracy (400 per class)"])
    assert line["note"] == "Accuracy (400 per class): not measured: missing 30_gen_params.jl_01.npy"
    # the same reason for both columns is said once, naming both; another reason apart
    both = [{**rows[-1], "protocol": "cifar10-full"}, rows[-1]]
    line = tables.table1(both).iloc[0]
    assert line["note"] == (
        "Accuracy, Accuracy (400 per class): not measured: missing 30_gen_params.jl_01.npy"
    )
    other = [{**rows[-1], "protocol": "cifar10-full", "note": "not measured: no CIFAR-10"}]
    line = tables.table1(other + [rows[-1]]).iloc[0]
    assert line["note"] == (
        "Accuracy: not measured: no CIFAR-10;"
        " Accuracy (400 per class): not measured: missing 30_gen_params.jl_01.npy"
    )


def test_pictures_past_the_embedding_budget_are_linked_to_their_copies(tmp_path, monkeypatch):
    from PIL import Image

    pictures = {}
    for name in ("first", "second", "third"):
        pictures[name] = tmp_path / f"{name}.png"
        Image.new("RGB", (16, 16), (40, 80, 120)).save(pictures[name])
    size = pictures["first"].stat().st_size
    monkeypatch.setattr(document, "EMBED_BYTES", 2 * size)  # room for two pictures
    out = document.write(tmp_path / "r", "many", images=pictures)
    page = out["html"].read_text()
    assert page.count("data:image/png;base64,") == 2
    linked = re.findall(r'<img src="([^"]+\.png)"', page)
    assert linked == ["picture-02-third.png"] and (out["folder"] / linked[0]).is_file()


def test_a_committed_report_names_the_machines_folders_not_their_paths(tmp_path, monkeypatch):
    """A note naming a missing file under the data root, and the headline naming the Inception
    weights under torch hub, read from those folders' names in the report's tables and text."""
    import torch

    data = tmp_path / "data"
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(data))
    missing = {
        "protocol": "cifar10-400",
        "variant": "imagenet32",
        "weights": "authors' released weights",
        "source": "not measured",
        "kind": "not measured",
        "value": None,
        "note": f"not measured: {data}/released/30_gen_params.jl_01.npy is missing",
        "time": "2026-11-22T10:00:00+0000",
    }
    hub = f"{torch.hub.get_dir()}/checkpoints/weights-inception-2015-12-05-6726825d.pth"
    out = document.write(
        tmp_path / "r", "portable", probe=probe_rows() + [missing], headline=[f"KID: {hub} missing"]
    )
    named = "<data root>/released/30_gen_params.jl_01.npy"
    for path, shown in (
        (out["markdown"], named),
        (out["folder"] / "table1-cifar10.csv", named),
        (out["html"], named.replace("<", "&lt;").replace(">", "&gt;")),
    ):
        text = path.read_text()
        assert shown in text, path
        assert str(data) not in text and torch.hub.get_dir() not in text
    assert "<torch hub>/checkpoints/weights-inception" in out["markdown"].read_text()
