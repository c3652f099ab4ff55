"""One command at a time in an output folder: a second one is refused in one line, and nothing is interleaved."""

from __future__ import annotations

import pytest

from rlnas.errors import RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison
from rlnas.files import held_folder
from tests.test_cli import assert_one_line_error, rlnas


def test_a_comparison_is_refused_a_folder_another_command_holds(tmp_path):
    config = CompareConfig("nb201-cifar10", ("rs",), budget=5, runs=1, seed=0)
    with held_folder(tmp_path / "out", "comparison"):
        with pytest.raises(RlnasError, match="is in use by another running rlnas comparison"):
            run_comparison(config, tmp_path / "out")
        assert not any((tmp_path / "out").iterdir())  # nothing written, nothing removed
    run_comparison(config, tmp_path / "out")  # free again once the holder ends


@pytest.mark.parametrize(
    "command",
    [
        ["search", "--strategy", "rs", "--budget", "5"],
        ["compare", "--strategies", "rs", "--budget", "5", "--runs", "1"],
        ["train", "-b", "nb201-cifar10", "--steps", "10"],
        ["enas", "--dataset", "digits", "--epochs", "1"],
    ],
)
def test_every_command_with_an_output_folder_refuses_one_in_use(command, tmp_path):
    with held_folder(tmp_path / "busy", "comparison"):
        assert_one_line_error(rlnas(*command, "--out", str(tmp_path / "busy")), "is in use by another running rlnas")


def test_a_folder_made_for_a_command_that_fails_is_not_left_behind(tmp_path):
    with pytest.raises(ZeroDivisionError), held_folder(tmp_path / "new", "enas"):
        raise ZeroDivisionError
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(ZeroDivisionError), held_folder(tmp_path / "old", "enas"):
        raise ZeroDivisionError
    assert (tmp_path / "old").is_dir()  # the user's own folder stays
