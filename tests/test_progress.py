"""Progress bars stay readable off a terminal: a few whole lines per bar, no \\r frames."""

import io

from dcgan import progress
from dcgan.training.config import TrainConfig
from dcgan.training.loop import train

from .conftest import tiny


def test_off_a_terminal_a_bar_prints_a_few_whole_lines():
    out = io.StringIO()  # not a terminal
    bar = progress.bar(total=400, desc="train", unit="step", stream=out)
    for _ in range(400):
        bar.update(1)
        bar.set_postfix(loss=1.0, refresh=False)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and 3 <= len(lines) <= progress.LINES + 2
    assert lines[-1].startswith("train: 100%") and "400/400" in lines[-1]


def test_the_training_bar_is_a_few_lines_in_captured_output(tmp_path, capsys):
    train(TrainConfig(tiny(), tmp_path / "run", steps=60, ckpt_every=30, log_every=2, device="cpu"))
    err = capsys.readouterr().err
    bar_lines = [line for line in err.splitlines() if line.startswith("train dcgan32")]
    assert "\r" not in err and 3 <= len(bar_lines) <= progress.LINES + 2, bar_lines
