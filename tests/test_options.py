"""Every option of every command (dcgan's and the main job's) walked: each numeric option carries
its range and refuses NaN, the infinities and a value beyond each end; each list or name option
refuses an empty value; each output path of the wrong kind is refused; each in one line naming
the option, at parse time (before any work)."""

import argparse
import contextlib
import io
import os

import pytest

from bench import run as bench_run
from bench import standin
from dcgan import argtypes as A
from dcgan import cli

# options whose empty value means something on purpose, and the options taking KEY=VALUE pairs
# (checked by the command, one line, in the fault table)
EMPTY_MEANS_ALL = {("bench", "--only")}


def _commands():
    """(command name, its parser) for each dcgan command and the main job."""
    top = cli.build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    yield from sub.choices.items()
    yield "bench", bench_run.build_parser()
    yield "standin", standin.build_parser()


COMMANDS = list(_commands())


def _options():
    for name, parser in COMMANDS:
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and action.dest != "help":
                yield name, parser, action


OPTIONS = list(_options())


def _refusal(parser, flag: str, value: str) -> str:
    """The stderr of parsing ``flag=value`` alone; fails unless argparse refused it (exit 2)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        parser.parse_args([f"{flag}={value}"])
    assert exit_.value.code == 2, (flag, value)
    return err.getvalue()


def _bad_cases():
    for name, parser, action in OPTIONS:
        bad = getattr(action.type, "bad_examples", None)
        for value in bad() if bad else ():
            yield pytest.param(
                parser, action, value, id=f"{name} {action.option_strings[-1]}={value!r}"
            )


BAD_CASES = list(_bad_cases())


@pytest.mark.parametrize("parser,action,value", BAD_CASES)
def test_each_option_refuses_its_bad_values_in_one_line(parser, action, value):
    flag = action.option_strings[-1]
    err = _refusal(parser, flag, value)
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    assert f"argument {'/'.join(action.option_strings)}: " in lines[0], err
    assert "Traceback" not in err


def test_the_walk_covers_every_option():
    """Every numeric option is checked (a bare int or float type, or a number default without a
    checked type, fails here), every valued option has a checked type, and the walk's size is
    what the closing note reports."""
    unchecked = []
    for name, _, action in OPTIONS:
        numeric = isinstance(action.default, (int, float)) and not isinstance(action.default, bool)
        if action.type in (int, float) or (numeric and not isinstance(action.type, A.Number)):
            unchecked.append(f"{name} {action.option_strings[-1]}: a number without its range")
        elif (
            action.type is None
            and action.choices is None
            and not isinstance(action, argparse._AppendAction)
        ):
            if (name, action.option_strings[-1]) not in EMPTY_MEANS_ALL:
                unchecked.append(f"{name} {action.option_strings[-1]}: no checked type")
    assert not unchecked, unchecked
    numbers = [a for _, _, a in OPTIONS if isinstance(a.type, A.Number)]
    lists = [a for _, _, a in OPTIONS if isinstance(a.type, A.Items)]
    print(
        f"{len(OPTIONS)} options, {len(numbers)} numeric, {len(lists)} lists;"
        f" {len(BAD_CASES)} options x bad values refused"
    )
    assert len(numbers) >= 40 and len(lists) >= 9 and len(BAD_CASES) >= 250


def test_help_shows_each_range():
    for name, parser in COMMANDS:
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action.type, A.Number):
                assert action.type.rule() in " ".join(text.split()), (name, action.dest)


@pytest.mark.parametrize(
    "kind,value,ok",
    [
        (A.Number(float, 0, 0.5, open_low=True), "0.5", 0.5),
        (A.Number(float, 0, 0.5, open_low=True), "1e-9", 1e-9),
        (A.Number(int, 1), "7", 7),
        (A.Items(A.count(), "steps"), " 1, 2 ,3", "1,2,3"),
        (A.Items(A.Number(float, 1e-7, 1.0), "C values", words=("paper",)), "paper", "paper"),
        (A.Text(), "x", "x"),
    ],
)
def test_good_values_pass_through(kind, value, ok):
    assert kind(value) == ok


def test_paths_are_checked_without_creating_anything(tmp_path):
    (tmp_path / "file").write_text("x")
    for kind, value, phrase in [
        (A.NewFile(".npy"), str(tmp_path / "f.txt"), "ending in .npy"),
        (A.NewFile(".npy"), str(tmp_path / "file" / "f.npy"), "is a file where a folder belongs"),
        (A.Folder(), str(tmp_path / "file" / "sub"), "is a file where a folder belongs"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=phrase):
            kind(value)
    assert A.Folder()(str(tmp_path / "new" / "deeper")) and not (tmp_path / "new").exists()
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(argparse.ArgumentTypeError, match="cannot write to"):
            A.Folder()(str(ro / "out"))


def test_the_parsers_are_built_from_the_declarations_alone():
    """Options are declared as data (dcgan/options/spec.py): every dcgan command's parser holds
    exactly its declared options, in order, and the main job's likewise; a command added to the
    declarations is a command of the CLI, with nothing else to edit."""
    from bench import options as bench_options
    from dcgan import options
    from dcgan.options.spec import command, option

    def flags(parser):
        return [tuple(a.option_strings) or (a.dest,) for a in parser._actions if a.dest != "help"]

    declared = {c.name: c for c in options.commands()}
    parsers = dict(COMMANDS)
    for name, c in declared.items():
        assert flags(parsers[name]) == [o.flags for o in c.options] + [("--json",)], name
    assert flags(parsers["bench"]) == [o.flags for o in bench_options.declared()]
    # one declaration more: a command of the parser, its option checked by its type
    extra = command("echo-n", "a throwaway command", option("--n", type=A.count(), default=1))
    names = list(cli.COMMANDS) + ["echo-n"]
    original = options.commands
    try:
        options.commands = lambda: original() + (extra,)
        parser = options.build_parser(names)
    finally:
        options.commands = original
    assert parser.parse_args(["echo-n", "--n", "3"]).n == 3
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:
        parser.parse_args(["echo-n", "--n", "0"])
    assert "--n" in err.getvalue()
