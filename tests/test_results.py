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
