"""Every measurement script the docs quote runs to the end on a tiny setting, so that a change to the library
that breaks one is caught here and not by the next person who reproduces a figure.

Left out: the scripts that train policies (`reward_robustness.py`, `train_general.py`: `rlnas train` is tested
itself), need a GPU (`gpu_speed.py`), train children for minutes (`fashion_mnist_search.py`) or take more than
a minute at their smallest (`arena_speed.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"

#: The arguments of each script's run (split at spaces; {tmp} is the test's folder).
CASES = {
    "responds_to_scores": "-b nb201-cifar10 --strategies re --budget 10 --runs 2",
    "teacher_search": "nb201-cifar10 --budgets 10 --runs 1",
    "teacher_agreement": "taught-climb nb201-cifar10 --episodes 1 --budget 10",
    "guided_edit_cost": "nb201-cifar10 taught-climb --budget 10 --runs 1",
    "reinforce_learning_curve": "--budget 60 --out {tmp}/curve.png",
    "rs_rejection_control": "--budget 10 --runs 1",
    "predictor_quality": "--benchmarks nb201-cifar100 --predictors path --sizes 20 --repeats 1 --test 50 "
    "--out {tmp}/quality.json",
    "custom_space_sampler": "--ops 2 --vertices 4 --draws 200 --rejection-draws 200 --out {tmp}/sampler.json "
    "--figure {tmp}/sampler.png",
    "episode_env_speed": "--benchmark nb201-cifar10 --steps 20 --repeats 1 --cells 5 --batch-size 4 "
    "--out {tmp}/speed.json",
    "nbgraph_tables": "--out {tmp}/nbgraph.json",
    "apex_throughput": "--benchmark nb201-cifar10 --steps 2100 --updates 3",  # about a minute: Ray starts
}


def run_script(name: str, args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The script run in `tmp_path` (where it may write its default outputs), with a relative RLNAS_DATA (as CI's
    `../shared/data`) made absolute."""
    command = [sys.executable, str(SCRIPTS / f"{name}.py"), *args.format(tmp=tmp_path).split()]
    env = dict(os.environ)
    if env.get("RLNAS_DATA"):
        env["RLNAS_DATA"] = str(Path(env["RLNAS_DATA"]).resolve())
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_script_runs_to_the_end(name, tmp_path):
    done = run_script(name, CASES[name], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


def test_budget_tables_and_their_figure(tmp_path):
    table = tmp_path / "table.json"
    strategies = "learned:taught-climb-no-nb201:guided,re"
    args = f"-b nb201-cifar10 --strategies {strategies} --budgets 10,20 --runs 2 --workers 1 --out {{tmp}}/runs"
    done = run_script("budget_table", f"{args} --json {table}", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(strategies.split(",")) <= set(json.loads(table.read_text())["strategies"])
    done = run_script("plot_budget_tables", f"--panel nb201-cifar10={table}:re --out {{tmp}}/figure.png", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "figure.png").stat().st_size > 0
