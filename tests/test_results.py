import csv
import json

from dcgan import results


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rows_append_never_overwrite_and_new_columns_widen_the_csv(tmp_path):
    j1, c = results.write_rows([{"a": 1, "b": 2}], tmp_path, "kind", "kind-rows.csv", ["a", "b"])
    j2, _ = results.write_rows(
        [{"a": 3, "b": 4, "c": 5}], tmp_path, "kind", "kind-rows.csv", ["a", "b", "c"]
    )
    j3, _ = results.write_rows([{"b": 6, "a": 7}], tmp_path, "kind", "kind-rows.csv", ["b", "a"])
    assert len({j1, j2, j3}) == 3 and all(p.exists() for p in (j1, j2, j3))  # one JSON per run
    assert json.loads(j2.read_text()) == [{"a": 3, "b": 4, "c": 5}]
    # every row under its own column, whatever order or width later runs wrote
    assert read(c) == [
        {"a": "1", "b": "2", "c": ""},
        {"a": "3", "b": "4", "c": "5"},
        {"a": "7", "b": "6", "c": ""},
    ]


def test_a_torn_last_line_is_set_aside_whole_before_the_next_append(tmp_path, capsys):
    _, c = results.write_rows([{"a": 1, "b": 2}], tmp_path, "kind", "kind-rows.csv", ["a", "b"])
    with open(c, "a") as f:
        f.write("3,4")  # an append interrupted before its newline
    results.write_rows([{"a": 5, "b": 6}], tmp_path, "kind", "kind-rows.csv", ["a", "b"])
    # the next row is not glued onto the torn one
    assert read(c) == [
        {"a": "1", "b": "2"},
        {"a": "5", "b": "6"},
    ]
    torn = list(tmp_path.glob("kind-rows.csv.torn-*.txt"))
    assert len(torn) == 1 and torn[0].read_text() == "3,4"  # nothing of it lost
    # and the user is told where it went
    err = capsys.readouterr().err
    assert f"the last line of {c} was torn" in err and f"moved, whole, to {torn[0]}" in err


def test_every_row_says_its_kind_and_older_rows_derive_it():
    from dcgan import protocols

    legacy = {
        "measured": "measured",
        "measured (control)": "control",
        "measured (baseline)": "baseline",
        "not measured": "not measured",
        "quoted from the paper (PROTOCOL.md §6), not measured": "quoted",
        "paper (quoted, not measured)": "quoted",
    }
    for source, kind in legacy.items():
        assert results.kind_of({"source": source}) == kind
    # the column, where a row has it, is what counts
    assert results.kind_of({"source": "measured", "kind": "baseline"}) == "baseline"
    # the paper's rows are built in one place, as quoted rows
    rows = protocols.quoted_rows("cifar10-400", "test_accuracy_pct")
    assert [(r["variant"], r["value"], r["ci95"]) for r in rows] == protocols.PAPER_ROWS[
        "cifar10-400"
    ]
    assert {results.kind_of(r) for r in rows} == {"quoted"}


def test_the_rows_files_in_the_repository_read_as_their_kinds():
    """The quick suite's own rows file, written before the kind column: every row gets a kind,
    and a random-init row is a control, a paper row quoted, the K-means row a baseline."""
    import csv

    from .conftest import REPO

    with open(REPO / "results" / "quick" / "probe-rows.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kinds = [results.kind_of(r) for r in rows]
    assert set(kinds) == {"measured", "control", "baseline", "quoted"}
    for r, kind in zip(rows, kinds, strict=True):
        assert (kind == "control") == r["weights"].startswith("random init"), r
        assert (kind == "baseline") == r["variant"].startswith("kmeans"), r


def test_written_rows_name_the_machines_folders_not_their_paths(tmp_path, monkeypatch):
    import torch

    data = tmp_path / "data"
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(data))
    row = {
        "note": f"not measured: {data}/train_32x32.mat is missing",
        "weights_file": f"{torch.hub.get_dir()}/checkpoints/w.pth",
        "checkpoint": str(tmp_path / "run" / "ckpt-00000004.pt"),  # under no machine root
        "value": 1.5,
    }
    j, c = results.write_rows([row], tmp_path / "out", "kind", "kind-rows.csv", list(row))
    (written,) = json.loads(j.read_text())
    assert written == {
        **row,
        "note": "not measured: <data root>/train_32x32.mat is missing",
        "weights_file": "<torch hub>/checkpoints/w.pth",
    }
    assert read(c) == [{k: str(v) for k, v in written.items()}]
