"""The command line as a user meets it: real subprocesses, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

CHAIN = "[[0,1,0],[0,0,1],[0,0,0]]"


def rlnas(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlnas", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_query_prints_hash_and_metrics(data_path):
    result = rlnas(
        "query",
        "--benchmark",
        "nb101",
        "--matrix",
        CHAIN,
        "--ops",
        '["input","conv3x3-bn-relu","output"]',
        "--data",
        str(data_path),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["hash"]) == 32 and 0 < report["metrics"]["test_accuracy"] < 1


def test_query_nb201_by_arch():
    report = json.loads(rlnas("query", "-b", "nb201-cifar10", "--arch", "123040").stdout)
    assert report["hash"] == "123040" and report["cell"]["ops"][2] == "nor_conv_3x3"


@pytest.mark.parametrize(
    ("matrix", "ops", "words"),
    [
        ("[[0,1,0],[1,0,1],[0,0,0]]", '["input","conv3x3-bn-relu","output"]', ["upper-triangular", "1->0"]),
        (CHAIN, '["input","conv7x7","output"]', ["unknown op 'conv7x7'", "conv3x3-bn-relu"]),
        (
            json.dumps([[int(j > i) for j in range(7)] for i in range(7)]),
            json.dumps(["input", *["maxpool3x3"] * 5, "output"]),
            ["21 edges", "at most 9"],
        ),
        ("[[0,1],[0,0", '["input","output"]', ["not valid JSON"]),
    ],
)
def test_bad_cells_get_one_line_errors(matrix, ops, words, data_path):
    assert_one_line_error(rlnas("query", "--matrix", matrix, "--ops", ops, "--data", str(data_path)), *words)


def test_missing_and_wrong_data_paths(tmp_path):
    env = {"RLNAS_CACHE": str(tmp_path / "cache"), "RLNAS_DATA": ""}
    assert_one_line_error(
        rlnas("query", "--matrix", CHAIN, "--ops", '["input","maxpool3x3","output"]', env=env), "RLNAS_DATA"
    )
    assert_one_line_error(rlnas("data", "--data", str(tmp_path / "nowhere"), env=env), "does not exist")


def test_truncated_data_file(tmp_path, data_path):
    (tmp_path / "data" / "nb101").mkdir(parents=True)
    shutil.copy(data_path / "nb101" / "cells_by_hash.npz", tmp_path / "data" / "nb101")
    raw = (data_path / "nb101" / "seed0_test_accuracy.npy").read_bytes()
    (tmp_path / "data" / "nb101" / "seed0_test_accuracy.npy").write_bytes(raw[:1000])
    result = rlnas("data", "--data", str(tmp_path / "data"), env={"RLNAS_CACHE": str(tmp_path / "cache")})
    assert_one_line_error(result, "truncated or corrupt")


def test_bad_options_are_short_usage_errors():
    result = rlnas("compare", "--budget", "many")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "budget" in result.stderr
    assert_one_line_error(rlnas("compare", "--strategies", "rs,bogus", "--out", "/tmp/x-rlnas"), "unknown strategy")


def test_info_lists_everything():
    out = rlnas("info").stdout
    for word in ("nb101", "nb201-imagenet", "regularized evolution", "RLNAS_DATA"):
        assert word in out


def test_compare_and_plots_from_the_command_line(tmp_path, data_path):
    result = rlnas(
        "compare",
        "-b",
        "nb201-cifar10",
        "--strategies",
        "rs,re",
        "--budget",
        "20",
        "--runs",
        "2",
        "--out",
        str(tmp_path / "cmp"),
    )
    assert result.returncode == 0, result.stderr
    assert "mean regret" in result.stdout and (tmp_path / "cmp" / "anytime.png").exists()
    assert "strategies x 2 runs" in result.stderr and "strategies x" not in result.stdout  # progress on stderr
    result = rlnas("plot", "sampler", "--draws", "2000", "--out", str(tmp_path / "s.png"), "--data", str(data_path))
    assert result.returncode == 0 and "total variation" in result.stdout, result.stderr
    result = rlnas("plot", "rewards", "-b", "nb201-cifar10", "--alpha", "6", "--out", str(tmp_path / "r.png"))
    assert result.returncode == 0 and (tmp_path / "r.png").exists(), result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["compare", "-b", "nb201-cifar10", "--strategies", "rs", "--budget", "15626", "--runs", "1"], "15,625"),
        (["search", "-b", "nb201-cifar10", "--strategy", "rs", "--budget", "20000"], "15,625"),
        (["search", "-b", "nb201-cifar10", "--strategy", "rs", "--budget", "0"], "--budget"),
        (["compare", "-b", "NB101", "--strategies", "rs", "--budget", "5", "--runs", "1"], "nb101"),
        (["compare", "-b", "nb201-cifar10", "--repeat", "sometimes", "--budget", "5", "--runs", "1"], "--repeat"),
        (["compare", "-b", "nb101", "--data", "/nowhere", "--budget", "5", "--runs", "1"], "/nowhere"),
        (["compare", "--seed", "-1", "--strategies", "rs", "--budget", "5", "--runs", "1"], "--seed"),
        (["search", "--seed", "-1", "--strategy", "rs", "--budget", "5"], "--seed"),
        (["compare", "--strategies", "", "--budget", "5", "--runs", "1"], "--strategies"),
        (["compare", "--strategies", "ls:5", "--budget", "5", "--runs", "1"], "ls"),
        (["compare", "--strategies", "rs", "--budget", "5", "--runs", "1", "--workers", "-3"], "--workers"),
        (["compare", "--strategies", "rs,rs", "--budget", "5", "--runs", "1"], "twice"),
        (["compare", "--strategies", "rs", "--budget", "5", "--runs", "1", "--address", "auto"], "--executor ray"),
        (["search", "--strategy", "rs", "--budget", "5", "--workers", "3"], "with --executor ray"),
        (["compare", "--strategies", "rs", "--executor", "ray", "--address", "127.0.0.1:1"], "no Ray cluster"),
        (
            ["search", "--strategy", "rs", "--budget", "5", "--executor", "ray", "--address", "ray://nohost"],
            "HOST:PORT",
        ),
        (["train", "-b", "nb201-cifar10", "--executor", "ray", "--address", "127.0.0.1:1"], "ray start --head"),
        (["search", "--strategy", "rs", "--budget", "5", "--executor", "ray", "--workers", "0"], "1 or more"),
        (["query", "-b", "nb101", "--matrix", "[[0,1],[0]]", "--ops", '["input","output"]'], "square"),
        (["plot", "sampler", "--draws", "0"], "--draws"),
        (["query", "-b", "nb201-cifar10", "--arch", "123040", "--matrix", "[[0]]"], "give the architecture once"),
        (["compare", "-b", "nb101", "--strategies", "rs", "--budget", "5", "--budget-seconds", "99"], "no training"),
        (["plot", "shaping", "-b", "train:digits", "--samples", "5"], "trains a network per query"),
        (["train", "-b", "nb301-distilled", "--steps", "10"], "train a general policy instead"),
        (["plot", "sampler", "--out", "sampler.txt"], "give an image file ending in one of"),
        (["plot", "rewards", "-b", "nb201-cifar10", "--out", "."], "is a folder"),
    ],
)
def test_every_mistake_is_one_line_and_leaves_nothing_behind(args, words, data_path, tmp_path):
    out = tmp_path / "out"
    extra = ["--out", str(out)] if args[0] == "compare" else []
    result = rlnas(*args, *extra, env={"RLNAS_DATA": str(data_path)})
    assert_one_line_error(result, words)
    assert not out.exists()


def test_an_output_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "afile"
    target.write_text("keep me")
    result = rlnas("compare", "--strategies", "rs", "--budget", "5", "--runs", "1", "--out", str(target))
    assert_one_line_error(result, "is a file")
    result = rlnas("train", "-b", "nb201-cifar10", "--steps", "10", "--out", str(target))
    assert_one_line_error(result, "is a file")
    assert "loading the benchmark" not in result.stdout  # refused before the work starts
    assert target.read_text() == "keep me"


def test_the_summary_table_marks_results_of_a_policy_on_its_training_benchmark():
    from rlnas.cli import console, print_summary

    budgets = {"10": {"mean_best": 0.8, "ci95": 0.01, "mean_regret": 0.1}}
    summary = {
        "benchmark": "nb201-cifar10",
        "metric": "validation_accuracy",
        "best_possible": 0.9,
        "runs": 2,
        "strategies": {"agent:p": {"budgets": budgets, "in_distribution": True}, "rs": {"budgets": budgets}},
    }
    with console.capture() as captured:
        print_summary(summary)
    text = captured.get()
    assert "agent:p (in-distribution)" in text and "rs (in-distribution)" not in text
    # the title is one line even though a one-budget table is narrow
    assert "nb201-cifar10: mean regret of best validation_accuracy (best possible 0.9000), 2 runs, ± 95% CI" in text
    assert "in-distribution: the policy was trained on nb201-cifar10" in text


def test_search_prints_json_that_pipes_and_resumes_only_the_same_search(tmp_path):
    out = str(tmp_path / "search")
    first = rlnas("search", "-b", "nb201-cifar10", "--strategy", "re", "--budget", "15", "--seed", "1", "--out", out)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)  # the progress bar is on stderr
    assert report["benchmark"] == "nb201-cifar10" and report["queries"] == 15
    record = json.loads((tmp_path / "search" / "search.json").read_text())
    del record["scores_digest"]  # as an rlnas before the digest wrote it: taken as is, and given it
    (tmp_path / "search" / "search.json").write_text(json.dumps(record))
    again = rlnas("search", "-b", "nb201-cifar10", "--strategy", "re", "--budget", "15", "--seed", "1", "--out", out)
    assert again.returncode == 0 and json.loads(again.stdout) == report, again.stderr
    assert "scores_digest" in json.loads((tmp_path / "search" / "search.json").read_text())
    results = (tmp_path / "search" / "results.csv").read_text()
    for other in (["-b", "nb201-cifar100", "--strategy", "re"], ["-b", "nb201-cifar10", "--strategy", "rs"]):
        refused = rlnas("search", *other, "--budget", "15", "--seed", "1", "--out", out)
        assert_one_line_error(refused, "holds a search with other settings")
    assert (tmp_path / "search" / "results.csv").read_text() == results


def test_search_refuses_a_comparison_folder_and_a_policy_of_another_space(tmp_path):
    compare = tmp_path / "cmp"
    result = rlnas(
        "compare", "-b", "nb201-cifar10", "--strategies", "rs", "--budget", "5", "--runs", "2", "--out", str(compare)
    )
    assert result.returncode == 0, result.stderr
    before = (compare / "results.csv").read_text()
    refused = rlnas("search", "-b", "nb201-cifar10", "--strategy", "rs", "--budget", "5", "--out", str(compare))
    assert_one_line_error(refused, "holds a comparison (config.json), not a search")
    assert (compare / "results.csv").read_text() == before and not (compare / "journal.sqlite").exists()
    refused = rlnas("search", "-b", "nb201-cifar10", "--policy", "nb101", "--out", str(tmp_path / "s"))
    assert_one_line_error(refused, "cannot act in the nb201 space")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("strategy", "words"),
    [("agent:taught-climb", "run it as learned:NAME:guided"), ("learned:nb101:guided", "run it as agent:NAME")],
)
def test_a_policy_of_the_other_kind_says_how_to_run_it(strategy, words, tmp_path):
    result = rlnas("search", "-b", "nb201-cifar10", "--strategy", strategy, "--budget", "5")
    assert_one_line_error(result, words)


def test_a_mistyped_data_variable_is_reported_even_where_a_cache_would_serve(tmp_path):
    result = rlnas(
        "compare",
        "-b",
        "nb101",
        "--strategies",
        "rs",
        "--budget",
        "5",
        "--runs",
        "1",
        "--out",
        str(tmp_path / "o"),
        env={"RLNAS_DATA": str(tmp_path / "nowhere")},
    )
    assert_one_line_error(result, "nowhere", "does not exist")
    assert not (tmp_path / "o").exists()


def test_a_training_folder_of_either_kind_is_not_trained_over(tmp_path):
    folder = tmp_path / "general"
    folder.mkdir()
    (folder / "general-checkpoint.pt").write_bytes(b"a general run's checkpoint")
    result = rlnas("train", "-b", "nb201-cifar10", "--steps", "10", "--out", str(folder))
    assert_one_line_error(result, "already holds a training run")
    assert sorted(p.name for p in folder.iterdir()) == ["general-checkpoint.pt"]


def test_a_task_list_with_a_reversed_budget_is_refused_before_the_folder_is_made(tmp_path):
    tasks = tmp_path / "tasks.toml"
    tasks.write_text('[[task]]\nbenchmark = "nb201-cifar10"\nbudget = [300, 20]\n')
    result = rlnas("train", "--tasks", str(tasks), "--steps", "10", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "1 <= lowest <= highest")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_a_comparison_at_once_and_says_how_to_resume(workers, tmp_path):
    import signal
    import time

    out = tmp_path / "out"
    args = ["compare", "-b", "nb201-cifar10", "--strategies", "rs,re,ls", "--budget", "300", "--runs", "100"]
    process = subprocess.Popen(
        [sys.executable, "-m", "rlnas", *args, "--workers", workers, "--out", str(out)],
        start_new_session=True,  # its own process group, signalled as a terminal's Ctrl-C signals one,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal starts it (not ignored)
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    while len(list(out.glob("runs/*.json"))) < 2 and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    finished = len(list(out.glob("runs/*.json")))
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted; run the same command again to resume"
    assert finished < 300  # the queued runs were not started
    time.sleep(1)
    assert len(list(out.glob("runs/*.json"))) == finished  # and no worker goes on after the exit


def test_plot_training_points_a_general_run_to_its_own_figure(tmp_path):
    (tmp_path / "general").mkdir()
    (tmp_path / "general" / "episodes.json").write_text("[]\n")
    result = rlnas("plot", "training", str(tmp_path / "general"), "--out", str(tmp_path / "t.png"))
    assert_one_line_error(result, "general policy's training", "training.png")
    assert not (tmp_path / "t.png").exists()


def test_version():
    from rlnas import __version__

    result = rlnas("--version")
    assert result.returncode == 0 and result.stdout.strip() == __version__


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["rlnas", "train", "--out", "x"], "continue it with rlnas train --resume DIR"),
        (["rlnas", "enas", "--dataset", "digits"], "resumes from the last checkpoint"),
        (["rlnas", "compare", "--runs", "3"], "run the same command again to resume"),
    ],
)
def test_after_ctrl_c_each_command_says_how_to_go_on(argv, hint, monkeypatch, capsys):
    import rlnas.cli

    def interrupted(**_):
        raise KeyboardInterrupt

    monkeypatch.setattr(rlnas.cli, "app", interrupted)
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stopped:
        rlnas.cli.main()
    assert stopped.value.code == 130
    assert hint in capsys.readouterr().err


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                "you tried to allocate 40000000000 bytes. Error code 12 (Cannot allocate memory)"
            ),
            "an allocation of 37.3 GiB",
        ),
        (RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.1 GiB total)"), "20.00 GiB"),
        (MemoryError(), "--width"),
    ],
)
def test_running_out_of_memory_is_one_line_saying_what_to_lower(failure, words, monkeypatch, capsys):
    import rlnas.cli

    def fails(**_):
        raise failure

    monkeypatch.setattr(rlnas.cli, "app", fails)
    with pytest.raises(SystemExit) as stopped:
        rlnas.cli.main()
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith("error: out of memory") and err.count("\n") == 1
    assert words in err


def test_another_runtime_error_is_not_mistaken_for_memory(monkeypatch):
    import rlnas.cli

    def fails(**_):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(rlnas.cli, "app", fails)
    with pytest.raises(RuntimeError, match="shapes"):
        rlnas.cli.main()
