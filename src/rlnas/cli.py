"""The `rlnas` command line: info, query, data, compare, demo and plots.

Every error a user can cause ends as one line on stderr (exit status 2), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rlnas.agents.options import with_config_options
from rlnas.config_options import config_parameters, given_fields, with_options
from rlnas.enas.config import ENASConfig
from rlnas.errors import InvalidCellError, RlnasError
from rlnas.ray_cluster import check_ray_options

app = typer.Typer(
    help="Reinforcement-learning NAS: benchmarks, search strategies and fair comparisons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
plot_app = typer.Typer(help="Figures: the NB101 samplers, the reward shaping, training curves.", no_args_is_help=True)


def _print_version(asked: bool) -> None:
    if asked:
        from rlnas import __version__

        print(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", help="Print rlnas' version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """Options before the command."""


app.add_typer(plot_app, name="plot")
# Piped output (logs, CI) gets room for the summary table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 140)
#: Progress and notes of the commands whose standard output is JSON (search, enas), so that it pipes.
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

DataOption = Annotated[
    str | None,
    typer.Option("--data", help="Folder holding nb101/ (default: $RLNAS_DATA).", show_default=False),
]
BenchmarkOption = Annotated[
    str,
    typer.Option(
        "--benchmark",
        "-b",
        help="A benchmark of `rlnas info` (nb101, nb201-cifar10, nbgraph-cora, nb301-distilled, ...), csv:FILE, "
        "train:DATASET or module:Class.",
    ),
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


#: The shipped `learned:` policies (one network for every space); any other shipped .pt is an `agent:` policy.
GENERAL_POLICIES = {
    "general": "one network for every space, trained on policies/general.toml (every family)",
    "general-no-nb101": "trained on policies/general.toml --without nb101 (NB101 unseen)",
    "general-no-nb201": "trained on policies/general.toml --without nb201 (NAS-Bench-201 unseen)",
    "general-no-nb301": "trained on policies/general.toml --without nb301 (the DARTS space unseen)",
    "nb301-distilled": "trained on policies/nb301-distilled.toml (the DARTS space alone, alpha = 32)",
    "taught-no-nb101": "trained on policies/taught.toml --without nb101 with a local-search teacher (NB101 unseen)",
    "taught-elites-no-nb101": "as taught-no-nb101 with the elite teacher (--teacher elites; NB101 unseen)",
    "taught-elites-no-nb201": "trained on policies/taught.toml --without nb201, elite teacher (NAS-Bench-201 unseen)",
    "taught-elites": "trained on policies/taught.toml (every family), elite teacher: in-distribution everywhere",
    "taught-climb-no-nb101": "as taught-elites-no-nb101 with the climb teacher (--teacher climb; NB101 unseen)",
    "taught-climb-no-nb201": "as taught-elites-no-nb201 with the climb teacher (NAS-Bench-201 unseen)",
    "taught-climb": "trained on policies/taught.toml (every family), climb teacher: in-distribution everywhere",
}
#: The demo's policy, `taught-climb`, and its training (README: `rlnas train --tasks src/rlnas/policies/taught.toml
#: --steps 80000 --seed 0 --teacher-envs 1 --teacher climb --demo-margin 0.1`).
DEMO_POLICY, DEMO_TASKS = "taught-climb", "taught.toml"
DEMO_TRAINING = {
    "without": [],
    "executor": None,
    "resume": None,
    "address": None,
    "data": None,
    "seed": 0,
    "steps": 80_000,
    "teacher_envs": 1,
    "teacher": "climb",
    "demo_margin": 0.1,
}


@app.command()
def info(data: DataOption = None) -> None:
    """Benchmarks (and whether their data is here), spaces, strategies, shipped policies, data folders."""
    from importlib import resources

    from rlnas.benchmarks import benchmark_status
    from rlnas.benchmarks.nb101 import OFFICIAL_CACHE, SHARED_CACHE
    from rlnas.data import DATA_ENV, cache_dir, data_dir
    from rlnas.spaces import SPACES
    from rlnas.strategies import DESCRIPTIONS, SETTINGS, settings_in_words

    console.print("[bold]Benchmarks[/] (-b NAME)")
    for name, summary, missing in benchmark_status(data):
        console.print(f"  {name:18s} {escape(summary)}", highlight=False)
        if missing:
            console.print(f"  {'':18s} [red]data missing:[/] {escape(missing)}", highlight=False)
    console.print("[bold]Search spaces[/] (--space NAME, for csv: tables)")
    for name, space in SPACES.items():
        console.print(
            f"  {name:18s} {len(space.op_names)} ops ({', '.join(space.op_names)}), "
            f"<= {space.max_vertices} vertices, {space.num_edits} edits",
            highlight=False,
        )
    console.print("[bold]Strategies[/] (--strategies a,b,...; their settings: --set NAME.FIELD=VALUE)")
    for name, text in DESCRIPTIONS.items():
        console.print(f"  {name:18s} {escape(text)}", highlight=False)
        if name in SETTINGS:
            console.print(f"  {'':18s} settings: {escape(settings_in_words(name))}", highlight=False)
    console.print("[bold]Shipped policies[/]")
    for policy in sorted(p.name for p in (resources.files("rlnas") / "policies").iterdir()):
        name = policy.removesuffix(".pt")
        if policy.endswith(".pt") and name in GENERAL_POLICIES:
            console.print(f"  {name:18s} learned:{name}, {GENERAL_POLICIES[name]}", highlight=False)
        elif policy.endswith(".pt"):
            console.print(
                f"  {name:18s} agent:{name}, trained and evaluated on {name} alone (policies/{name}.toml): "
                "an in-distribution reference that replays a memorised route",
                highlight=False,
            )
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
    arch: Annotated[
        str | None,
        typer.Option(help="The cell in the space's text form, as query prints it (arch); NB201 also takes 123040."),
    ] = None,
    genotype: Annotated[
        str | None,
        typer.Option(help="DARTS architecture (nb301-*): a Genotype(...) string, NASLib pairs or ConfigSpace JSON."),
    ] = None,
    repeat: RepeatOption = "mean",
    seed: Annotated[int, typer.Option(help="Seed for a random repeat.")] = 0,
    data: DataOption = None,
    space: SpaceOption = None,
) -> None:
    """Print the metrics of one cell as JSON; an invalid cell says why."""
    from rlnas.benchmarks import load_benchmark

    bench = load_benchmark(benchmark, data, repeat, space)
    if genotype is not None and bench.space.name != "darts":
        raise RlnasError("--genotype is for DARTS-space benchmarks (nb301-distilled, nb301:DIR); use --arch here")
    if sum(x is not None for x in (genotype, arch, matrix or ops)) > 1:
        raise RlnasError("give the architecture once: --arch, --genotype, or --matrix with --ops")
    arch = genotype if genotype is not None else arch
    if arch is not None:
        cell = bench.space.from_text(arch)
    else:
        if matrix is None or ops is None:
            raise RlnasError("give a cell: --arch (as query prints it), or --matrix and --ops (NB101)")
        cell = bench.space.cell_from_names(_parse_json(matrix, "matrix"), _parse_json(ops, "ops"))
    result = bench.evaluate(cell, np.random.default_rng(seed))
    report = {
        "benchmark": bench.name,
        "hash": result.hash,
        "arch": bench.space.to_text(result.cell),
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
    with err_console.status("building the NB101 cache (once, about 15 s)"):
        path = prepare(data)
    console.print(f"NB101 cache ready: {path}")


def print_json(report: dict) -> None:
    """Indented JSON with each matrix row on one line (the innermost lists of numbers folded)."""
    text = json.dumps(report, indent=2)
    print(re.sub(r"\[\s+([-\d.,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text))


def _progress() -> Progress:
    """A progress bar on stderr, as every command draws one: stdout holds only results."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@contextlib.contextmanager
def _progress_once_checked() -> Iterator[Callable[[int, int | None, str], None]]:
    """`update(completed, total, description)` of a progress bar drawn from its first update: the commands
    update only once their arguments are checked, so a refused command prints its error line alone."""
    progress = _progress()
    tasks = []

    def update(completed: int, total: int | None, description: str) -> None:
        if not tasks:
            progress.start()
            tasks.append(progress.add_task(description, total=total))
        progress.update(tasks[0], completed=completed, total=total, description=description)

    try:
        yield update
    finally:
        if tasks:
            progress.stop()


ExecutorOption = Annotated[
    str,
    typer.Option(
        help="local (compare: worker processes; search: this process; deterministic) or ray (compare: Ray tasks, "
        "the same results; search: Ray actors, results arrive in any order, so the search may differ; "
        "--address joins a cluster)."
    ),
]
AddressOption = Annotated[str | None, typer.Option(help="Ray cluster address to join (with --executor ray).")]
SpaceOption = Annotated[
    str | None, typer.Option(help="The space of a csv: table or of train: children (nb101, nb201...).")
]
EpochsOption = Annotated[int | None, typer.Option(help="train: benchmarks: epochs per child (default 2).")]
WidthOption = Annotated[int | None, typer.Option(help="train: benchmarks: channels after the stem (default 16).")]
DepthOption = Annotated[int | None, typer.Option(help="train: benchmarks: cells per stack (default 1).")]
TrainImagesOption = Annotated[
    int | None, typer.Option(help="train: benchmarks: training images per child (default 5000).")
]


def training_options(
    epochs: int | None, width: int | None, depth: int | None, train_images: int | None
) -> tuple[tuple[str, int], ...]:
    """The options given, as the benchmark options of a train: benchmark."""
    given = {"epochs": epochs, "width": width, "depth": depth, "train_images": train_images}
    return tuple((k, v) for k, v in given.items() if v is not None)


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="A strategy's setting, NAME.FIELD=VALUE (e.g. re.population_size=50); repeat for more. "
        "rlnas info lists each strategy's settings.",
    ),
]
BudgetSecondsOption = Annotated[
    float | None,
    typer.Option(help="Also stop once the queries' summed training time reaches this (benchmarks that report it)."),
]


@app.command()
def compare(
    benchmark: BenchmarkOption = "nb201-cifar10",
    strategies: Annotated[str, typer.Option(help="Comma-separated strategy names.")] = "rs,rw,ls,re",
    budget: Annotated[int, typer.Option(help="Unique architectures each run may query.")] = 200,
    runs: Annotated[int, typer.Option(help="Runs per strategy; run r uses the same seed for every strategy.")] = 50,
    seed: Annotated[int, typer.Option(help="Base seed of the runs.")] = 0,
    out: Annotated[
        Path,
        typer.Option(help="Output folder; run again with the same arguments to resume, or more runs or strategies."),
    ] = Path("runs/compare"),
    workers: Annotated[
        int, typer.Option(help="Runs at a time: worker processes, or Ray tasks (0: the number of cores here).")
    ] = 0,
    repeat: RepeatOption = "mean",
    data: DataOption = None,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    budget_seconds: BudgetSecondsOption = None,
    space: SpaceOption = None,
    epochs: EpochsOption = None,
    width: WidthOption = None,
    depth: DepthOption = None,
    train_images: TrainImagesOption = None,
    set_: SetOption = None,
) -> None:
    """Run strategies x runs on one benchmark; write results.csv, summary.json and anytime.png."""
    from rlnas.experiments.compare import CompareConfig, run_comparison
    from rlnas.strategies import parse_settings

    if workers < 0:
        raise RlnasError(f"--workers must be 0 (one per core) or more, got {workers}")
    check_ray_options(executor, address)
    names = tuple(s.strip() for s in strategies.split(","))
    if any(not name for name in names):
        raise RlnasError(
            f"--strategies {strategies!r} has an empty name; give names separated by commas, e.g. rs,ls,re"
        )
    options = training_options(epochs, width, depth, train_images)
    settings = parse_settings(set_ or [], names)
    config = CompareConfig(benchmark, names, budget, runs, seed, repeat, budget_seconds, space, options, settings)
    with _progress_once_checked() as update:
        description = f"{benchmark}: {len(names)} {'strategy' if len(names) == 1 else 'strategies'} x {runs} runs"
        summary = run_comparison(
            config,
            out,
            data,
            workers or os.cpu_count() or 1,
            lambda done, total: update(done, total, description),
            executor,
            address,
        )
    print_summary(summary)
    console.print(f"wrote {out}/results.csv, {out}/summary.json, {out}/anytime.png")


def print_summary(summary: dict) -> None:
    """Regret where the benchmark's best is known, the best score otherwise; in-distribution marked."""
    known = summary["best_possible"] is not None
    what = (
        f"regret of best {summary['metric']} (best possible {summary['best_possible']:.4f})"
        if known
        else (f"best {summary['metric']} (the benchmark's best is unknown)")
    )
    # the title goes above the table, not in it: a table of one or two budgets would wrap it word by word
    console.print(f"{summary['benchmark']}: mean {what}, {summary['runs']} runs, ± 95% CI")
    table = Table()
    budgets = list(next(iter(summary["strategies"].values()))["budgets"])
    table.add_column("strategy")
    for b in budgets:
        table.add_column(f"{b}", justify="right")
    key = "mean_regret" if known else "mean_best"
    fractions = all(  # accuracies print in percentage points; other metrics as they are
        0.0 <= entry["budgets"][b]["mean_best"] <= 1.0
        for entry in summary["strategies"].values()
        for b in entry["budgets"]
    )
    scale = 100 if fractions else 1

    def cell(value: dict) -> str:  # (x + 0.0) and the rounding keep float noise around zero from printing as -0.00
        mean = f"{round(value[key] * scale, 6) + 0.0:.2f}"
        return mean if value["ci95"] is None else f"{mean}±{value['ci95'] * scale:.2f}"

    for name, entry in summary["strategies"].items():
        cells = [cell(entry["budgets"][b]) if b in entry["budgets"] else "-" for b in budgets]
        label = f"{name} (in-distribution)" if entry.get("in_distribution") else name
        table.add_row(label, *cells)
    console.print(table)
    unit = "percentage points" if fractions else f"units of {summary['metric']}"
    console.print(f"{'regret' if known else 'scores'} and CI in {unit}", end="")
    marked = [name for name, entry in summary["strategies"].items() if entry.get("in_distribution")]
    if marked:
        console.print(f"; in-distribution: the policy was trained on {summary['benchmark']}", end="")
    console.print()
    for name, entry in summary["strategies"].items():
        if entry.get("settings"):
            given = ", ".join(f"{field}={value}" for field, value in entry["settings"].items())
            console.print(f"{name} ran with {given}", highlight=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    train: Annotated[
        bool, typer.Option("--train", help="Retrain the demo's policy first (the shipped command: about 35 min).")
    ] = False,
    runs: Annotated[int, typer.Option(help="Runs per strategy.")] = 50,
    budget: Annotated[int, typer.Option(help="Unique architectures per run.")] = 200,
) -> None:
    """The out-of-the-box demo: the shipped policy taught-climb against rs, ls and re on NB201-cifar10.

    The policy runs as learned:taught-climb:guided: its edits are drawn by a score model of the run's results."""
    policy = DEMO_POLICY
    if train:
        from rlnas.agents.policy import SHIPPED_POLICIES
        from rlnas.experiments.general_train import run_general_train_command

        policy = str(out / "policy" / "policy.pt")
        run_general_train_command(
            console=err_console, tasks=SHIPPED_POLICIES / DEMO_TASKS, out=out / "policy", **DEMO_TRAINING
        )
    compare(
        benchmark="nb201-cifar10",
        strategies=f"learned:{policy}:guided,rs,ls,re",
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
    benchmark: BenchmarkOption = "nb201-cifar10",
    strategy: Annotated[
        str | None, typer.Option(help="Any strategy spec of `rlnas compare` (e.g. re, agent:DIR).")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Shorthand for --strategy agent:POLICY: a training folder of rlnas train -b, or nb101, nb201-cifar10 "
            "(the general policies run as --strategy learned:NAME:guided)."
        ),
    ] = None,
    budget: Annotated[int, typer.Option(help="Unique architectures to query.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the search (keep it apart from the training seeds).")] = 1000,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the journal (resume by running again) and results.csv.")
    ] = None,
    repeat: RepeatOption = "mean",
    data: DataOption = None,
    executor: ExecutorOption = "local",
    workers: Annotated[
        int | None, typer.Option(help="Ray actors evaluating in parallel (with --executor ray; default 2).")
    ] = None,
    address: AddressOption = None,
    budget_seconds: BudgetSecondsOption = None,
    space: SpaceOption = None,
    epochs: EpochsOption = None,
    width: WidthOption = None,
    depth: DepthOption = None,
    train_images: TrainImagesOption = None,
    set_: SetOption = None,
) -> None:
    """Search once with any strategy; print the best architecture found as JSON.

    For train: benchmarks with --out, its trained network is saved as DIR/model.pt."""
    from rlnas.benchmarks import check_benchmark, load_benchmark, scores_digest
    from rlnas.experiments.compare import claim_folder, rows_csv, run_rows
    from rlnas.files import write_atomic
    from rlnas.strategies import check_strategy, make_strategy, parse_settings, strategy_identity
    from rlnas.strategies.runner import InProcessExecutor, RayExecutor, run_search

    if (strategy is None) == (policy is None):
        raise RlnasError("give exactly one of --strategy NAME and --policy POLICY")
    if seed < 0:
        raise RlnasError(f"--seed must be 0 or more, got {seed}")
    if budget < 1:
        raise RlnasError(f"--budget must be at least 1, got {budget}")
    check_ray_options(executor, address)
    if workers is not None and executor != "ray":
        raise RlnasError("--workers sets the Ray actors of a search: use it with --executor ray")
    if workers is not None and workers < 1:
        raise RlnasError(f"--workers must be 1 or more, got {workers}")
    if out is not None and out.exists() and not out.is_dir():
        raise RlnasError(f"--out {out} is a file; give a folder")
    options = training_options(epochs, width, depth, train_images)
    check_benchmark(benchmark, data, repeat, space, options)
    spec = strategy or f"agent:{policy}"
    settings = dict((field, value) for _, field, value in parse_settings(set_ or [], [spec]))
    bench = load_benchmark(benchmark, data, repeat, space, options)
    checked = check_strategy(spec, bench.space, settings)  # a policy of another space fails before --out is written
    if out is not None:  # the journal resumes only the same search: these settings, recorded in search.json
        setup = {"benchmark": benchmark, "repeat": repeat, "space": space, "options": options}
        setup |= {"scores_digest": digest} if (digest := scores_digest(bench)) else {}  # the same table's scores
        identity = {"strategy": spec, "seed": seed, "fingerprint": getattr(checked, "fingerprint", None)}
        identity |= {"settings": settings} if settings else {}  # a folder of a search before --set still resumes
        source = strategy_identity(spec, checked).get("source")
        identity |= {"source": source} if source else {}  # a user's strategy: the file that defines it
    holding = (
        claim_folder(out, "search.json", setup | identity, "use another --out or the same arguments")
        if out is not None
        else contextlib.nullcontext()
    )
    with holding:  # the folder is this search's until it ends
        searcher = make_strategy(spec, settings)  # a fresh one: the search starts it with the seed's generator
        pool = RayExecutor(workers or 2, address) if executor == "ray" else InProcessExecutor()
        with _progress_once_checked() as update:

            def show(search, result) -> None:
                best = search.best.score if search.best is not None else float("nan")
                done = len(search.history)
                update(done, budget, f"done {done}, running {search.in_flight}, best {best:.4f}")

            result = run_search(
                searcher,
                bench,
                budget,
                np.random.default_rng(seed),
                budget_seconds=budget_seconds,
                executor=pool,
                journal=out / "journal.sqlite" if out is not None else None,
                on_result=show,
            )
        history, best = result.history, result.best
        if out is not None:
            write_atomic(out / "results.csv", rows_csv(run_rows(searcher.name, 0, result, bench.cost_metric)))
        if result.stop_reason in ("exhausted", "stalled"):
            err_console.print(
                f"note: the search stopped early ({result.stop_reason}): no new architecture could be found"
            )
        elif result.stop_reason == "strategy_finished":
            err_console.print("note: the search stopped early: the strategy asked for nothing more")
        report = {
            "benchmark": bench.name,
            "metric": bench.metric,
            "strategy": spec,
            **({"settings": settings} if settings else {}),
            "queries": len(history),
            "stop_reason": result.stop_reason,
            "best": {
                "hash": best.hash,
                "score": best.score,
                "metrics": best.metrics,
                "found_at_query": history.index(best) + 1,
                "cell": bench.space.describe(best.cell),
            },
        }
        if bench.best_possible is not None:
            report["best"]["regret"] = bench.best_possible - best.score
        if out is not None and hasattr(bench, "save_model"):
            with err_console.status("training the best architecture again to save its network"):
                bench.save_model(best.cell, out / "model.pt")
            report["model"] = str(out / "model.pt")
        print_json(report)


@app.command()
@with_options(config_parameters(ENASConfig, "Hyperparameters: ENASConfig fields"))
def enas(
    dataset: Annotated[
        str,
        typer.Option(help="digits, mnist-5k, fashion-mnist, a folder of images (one subfolder per class) or an .npz."),
    ] = "digits",
    rank: Annotated[
        int, typer.Option(help="Also rank this many uniformly drawn architectures against stand-alone training.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for summary.json, arch.json and checkpoint.pt; run again with it to resume."),
    ] = None,
    **hyperparameters,
) -> None:
    """ENAS on the NB201 space: supernet and controller trained in turn; the derived cell retrained.

    An architecture is derived from the trained controller and retrained from scratch; the summary prints as JSON.

    Every ENASConfig field is an option (e.g. --epochs, --width, --controller-steps, --device)."""
    from rlnas.datasets import check_dataset, load_dataset
    from rlnas.enas import run_enas
    from rlnas.enas.search import check_run, read_checkpoint, run_identity
    from rlnas.files import held_folder, remove_stale_temporaries, write_atomic

    if seed < 0 or rank < 0:
        raise RlnasError("--seed and --rank must be 0 or more")
    if out is not None and out.exists() and not out.is_dir():
        raise RlnasError(f"--out {out} is a file; give a folder")
    check_dataset(dataset)
    config = ENASConfig(**given_fields(ENASConfig, hyperparameters))

    def show_epoch(stats: dict) -> None:
        err_console.print(
            f"epoch {stats['epoch']}/{config.epochs}: train loss {stats['train_loss']:.3f}, "
            f"controller reward {stats['mean_reward']:.3f} (baseline {stats['baseline']:.3f})"
        )

    def show_child(k: int, child: dict) -> None:
        err_console.print(
            f"ranking {k + 1}/{rank}: {child['arch']} shared {child['shared_accuracy']:.3f}, "
            f"alone {child['validation_accuracy']:.3f}"
        )

    data = load_dataset(dataset)
    check_run(data, config, rank)
    # --out is made and held now, so that an unwritable or busy one fails before the work; a failure before the
    # first checkpoint leaves no empty folder behind
    with held_folder(out, "enas") if out is not None else contextlib.nullcontext():
        if out is not None:
            if not os.access(out, os.W_OK | os.X_OK):
                raise RlnasError(f"cannot write to {out}; give a writable --out")
            remove_stale_temporaries(out)  # of a checkpoint being written when the run was killed
        checkpoint = out / "checkpoint.pt" if out is not None else None
        if checkpoint is not None and read_checkpoint(checkpoint, run_identity(data, config, seed, rank)) is not None:
            err_console.print(f"resuming from {checkpoint}")  # read_checkpoint refuses the checkpoint of another run
        summary = run_enas(data, config, seed, rank, show_epoch, show_child, checkpoint)
        if out is not None:
            write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
            arch = {key: summary["derived"][key] for key in ("space", "arch", "ops", "nb201")}
            write_atomic(out / "arch.json", json.dumps(arch, indent=2) + "\n")
    # the per-epoch, per-candidate and per-child lists stay in summary.json
    short = {"supernet": "epochs", "derived": "candidates", "ranking": "children"}
    print_json(
        {
            key: {k: v for k, v in part.items() if k != short[key]} if key in short else part
            for key, part in summary.items()
            if key != "config"
        }
    )


def _train_option(help_text: str, *names: str):
    return typer.Option(*names, help=help_text, show_default=False)


@app.command("train")
@with_config_options
def train_command(
    benchmark: Annotated[str | None, _train_option("Benchmark (default nb201-cifar10).", "--benchmark", "-b")] = None,
    executor: Annotated[str | None, _train_option("local (in-process, deterministic; default) or ray.")] = None,
    minutes: Annotated[
        float | None, _train_option("Wall-clock cap; stops at the next episode boundary (not with --tasks).")
    ] = None,
    out: Annotated[
        Path | None, _train_option("Run folder (default runs/train-BENCHMARK; with --tasks runs/general-FILE).")
    ] = None,
    config: Annotated[Path | None, _train_option("TOML file overriding ApeXConfig fields.", "--config")] = None,
    resume: Annotated[Path | None, _train_option("Continue the run in this folder from its last checkpoint.")] = None,
    address: Annotated[str | None, _train_option("Ray cluster address to join (with --executor ray).")] = None,
    data: DataOption = None,
    tasks: Annotated[
        Path | None,
        _train_option(
            "Train a general policy on this task list (TOML, as src/rlnas/policies/general.toml).", "--tasks"
        ),
    ] = None,
    without: Annotated[
        list[str] | None,
        _train_option(
            "With --tasks: leave out a benchmark family (nb101, nb201, nbgraph...); repeatable.", "--without"
        ),
    ] = None,
    **hyperparameters,
) -> None:
    """Train the transformer Q-network with Ape-X; DIR/policy.pt is the reusable search policy.

    On one benchmark (--benchmark), or, with --tasks FILE, a general policy for every space on a task list
    (--without FAMILY leaves a family out: the leave-one-out protocol). Every ApeXConfig and GeneralTrainConfig
    field is an option too (e.g. --steps, --actors, --seed, --learning-rate).
    """
    from rlnas.experiments.general_train import is_general_run

    if tasks is not None or (resume is not None and is_general_run(resume)):
        from rlnas.experiments.general_train import run_general_train_command

        if benchmark is not None or minutes is not None or config is not None:
            raise RlnasError("--benchmark, --minutes and --config are for one benchmark's agent, not --tasks")
        run_general_train_command(
            tasks=tasks,
            without=without or [],
            executor=executor,
            out=out,
            resume=resume,
            address=address,
            data=data,
            console=err_console,
            **hyperparameters,
        )
        return
    if without:
        raise RlnasError("--without leaves a family out of a task list; use it with --tasks FILE")
    from rlnas.experiments.apex_train import run_train_command

    run_train_command(
        benchmark=benchmark,
        executor=executor,
        minutes=minutes,
        out=out,
        config=config,
        resume=resume,
        address=address,
        data=data,
        console=err_console,
        **hyperparameters,
    )


@plot_app.command("sampler")
def plot_sampler(
    draws: Annotated[int, typer.Option(help="Draws from each sampler.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the draws.")] = 0,
    out: Annotated[Path, typer.Option(help="Output image.")] = Path("runs/sampler.png"),
    data: DataOption = None,
) -> None:
    """Vertex and edge count histograms of both NB101 samplers against the uniform distribution."""
    if draws < 1:
        raise RlnasError(f"--draws must be at least 1, got {draws}")
    from rlnas.benchmarks.nb101 import NB101Benchmark
    from rlnas.experiments.plots import check_image_path, plot_sampler_histograms
    from rlnas.experiments.sampler_check import draw_counts, table_counts, total_variation
    from rlnas.spaces import NB101_SPACE

    check_image_path(out)
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
    space: SpaceOption = None,
) -> None:
    """The accuracy histogram over a benchmark, before and after reward shaping."""
    from rlnas.benchmarks import load_benchmark
    from rlnas.experiments.plots import check_image_path, plot_reward_histograms
    from rlnas.rewards import shape_reward

    check_image_path(out)
    bench = load_benchmark(benchmark, data, space=space)
    accuracies = bench.all_scores()
    shaped = {
        f"{form} reward, alpha={alpha:g}": np.asarray(shape_reward(accuracies, alpha, form.strip()))
        for form in forms.split(",")
    }
    plot_reward_histograms(accuracies, shaped, f"{bench.name}: {bench.metric} over all cells", out)
    console.print(f"wrote {out}")


@plot_app.command("shaping")
def plot_shaping(
    benchmark: BenchmarkOption = "nb101",
    alpha: Annotated[
        list[float] | None,
        typer.Option(help="Sharpness of the search episode's reward; repeat to compare (default: EpisodeConfig's)."),
    ] = None,
    raw_alpha: Annotated[
        list[float] | None,
        typer.Option(help="Also draw score ** A on the raw score (the 32-step environment's form); repeatable."),
    ] = None,
    samples: Annotated[int, typer.Option(help="Sampled architectures, where the benchmark has no table.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the sampled architectures.")] = 0,
    out: Annotated[Path, typer.Option(help="Output image.")] = Path("runs/shaping.png"),
    data: DataOption = None,
    space: SpaceOption = None,
) -> None:
    """The search episode's shaped reward against the score, over the distribution of the benchmark's scores."""
    from rlnas.benchmarks import load_benchmark
    from rlnas.env.search_episode import EpisodeConfig, benchmark_scores, reference_scale, shaped_score
    from rlnas.experiments.plots import check_image_path, plot_reward_shaping
    from rlnas.rewards import shape_reward

    alphas, raw_alphas = alpha or [EpisodeConfig().alpha], raw_alpha or []
    if samples < 1 or not all(0 < a < math.inf for a in alphas + raw_alphas):
        raise RlnasError(
            f"--samples must be at least 1 and every alpha positive and finite, got {samples} and {alphas + raw_alphas}"
        )
    if benchmark.startswith("train:"):  # its reward scale alone would train 2,000 networks
        raise RlnasError(f"plot shaping needs a table or a surrogate, and {benchmark} trains a network per query")
    check_image_path(out)
    bench = load_benchmark(benchmark, data, space=space)
    scores, whole_table = benchmark_scores(bench, samples, seed)
    described = "all cells" if whole_table else f"the {samples:,} sampled architectures"
    if raw_alphas and not (scores.min() >= 0 and scores.max() <= 1):
        raise RlnasError(f"--raw-alpha shapes fractions; {bench.name}'s scores leave [0, 1]")
    lo, hi = scale = reference_scale(bench, EpisodeConfig().reference_samples)
    grid = np.linspace(min(scores.min(), lo), max(scores.max(), hi) + 0.5 * (hi - lo), 500)
    console.print(f"{bench.name}: reward scale (median, max of the reference scores) = ({lo:.5g}, {hi:.5g})")
    curves, references = {}, {}
    for a in alphas:
        config = EpisodeConfig(alpha=a)
        curves[f"search episode, alpha={a:g}: clip((score - median) / (max - median)) ** {a:g}"] = np.array(
            [shaped_score(x, scale, config) for x in grid]
        )
        shaped = np.array([shaped_score(x, scale, config) for x in scores])
        console.print(
            f"alpha={a:g}: of {described}, {np.mean(shaped >= 0.01):.1%} get a shaped reward >= 0.01, "
            f"{np.mean(shaped >= 0.5):.2%} >= 0.5, {np.mean(scores >= hi):.2%} reach the scale's max (reward 1)"
        )
    for a in raw_alphas:
        references[f"score ** {a:g} (the 32-step environment's form, on the raw score)"] = shape_reward(grid, a)
    metric = f"{bench.metric.replace('_', ' ')} ({bench.name})"
    title = f"{bench.name}: the search episode's reward shaping over {described}"
    plot_reward_shaping(scores, grid, curves, references, scale, title, metric, f"scores of {described}", out)
    console.print(f"wrote {out}")


@plot_app.command("training")
def plot_training(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Training folders of one benchmark's agent (rlnas train -b NAME --out DIR)."),
    ],
    out: Annotated[Path, typer.Option(help="Output image.")] = Path("runs/training.png"),
) -> None:
    """Learning curves: mean episode-best shaped reward against environment steps (a general policy's training,
    with --tasks, draws its own DIR/training.png)."""
    import csv

    from rlnas.experiments.general_train import EPISODES_FILE, PLOT_FILE
    from rlnas.experiments.plots import check_image_path, plot_training_curves

    check_image_path(out)
    curves = {}
    for folder in runs:
        path = folder / "metrics.csv"
        if not path.is_file() and (folder / EPISODES_FILE).is_file():
            raise RlnasError(f"{folder} is a general policy's training (--tasks), which draws {folder / PLOT_FILE}")
        if not path.is_file():
            raise RlnasError(f"{path} does not exist; give folders written by rlnas train --benchmark NAME --out DIR")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        columns = ("env_steps", "episode_best_shaped")
        curves[folder.name] = {k: np.array([float(r[k] or "nan") for r in rows]) for k in columns}
        first, last = curves[folder.name]["episode_best_shaped"][[0, -1]]
        console.print(f"{folder}: episode-best shaped reward {first:.3f} at the start, {last:.3f} at the end")
    plot_training_curves(curves, out)
    console.print(f"wrote {out}")


#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), which typer returns instead of raising.
INTERRUPTED = 130
#: What to do after Ctrl-C, by command; every other command resumes when run again.
AFTER_INTERRUPT = {
    "train": "continue it with rlnas train --resume DIR (DIR: its --out folder)",
    "enas": "with --out, the same command resumes from the last checkpoint (every epoch, the retraining and every "
    "ranked child); without --out it starts again",
}


#: How PyTorch words a failed allocation, on the CPU ("can't allocate memory") and on a GPU ("out of memory").
OUT_OF_MEMORY = re.compile(r"can't allocate memory|out of memory", re.IGNORECASE)


def out_of_memory_line(exc: BaseException) -> str:
    """One line for a failed allocation: its size where PyTorch says it, and what to lower."""
    size = re.search(r"allocate (\d+) bytes|allocate ([\d.]+ [KMGT]iB)", str(exc))
    tried = "" if size is None else f" (an allocation of {size[2] or f'{int(size[1]) / 2**30:.1f} GiB'})"
    return (
        f"out of memory{tried}; lower the settings that size a network or a batch (such as --width, --depth, "
        "--batch-size, or a strategy's --set hidden_size), then run again (finished work is kept)"
    )


def main() -> None:
    try:
        status = app(standalone_mode=False)
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
    except OSError as exc:  # a full disk, a folder that cannot be written: finished work stays on disk
        where = f" ({exc.filename})" if exc.filename else ""
        fix = "free space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "check the path"
        print(f"error: {exc.strerror or exc}{where}; {fix} or choose another --out, then run again", file=sys.stderr)
        sys.exit(2)
    except (MemoryError, RuntimeError) as exc:  # torch reports a failed allocation as a RuntimeError
        if not isinstance(exc, MemoryError) and not OUT_OF_MEMORY.search(str(exc)):
            raise
        print(f"error: {out_of_memory_line(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        status = INTERRUPTED
    if status == INTERRUPTED:
        # a second Ctrl-C (or `timeout`'s second signal) while the workers shut down would print a traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")
        hint = AFTER_INTERRUPT.get(command, "run the same command again to resume")
        print(f"interrupted; {hint}", file=sys.stderr)
    if isinstance(status, int) and status:
        sys.exit(status)
