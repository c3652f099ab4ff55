"""The figures: anytime curves of a comparison, sampler histograms, reward shaping histograms."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from rlnas.errors import RlnasError
from rlnas.files import atomic_path


def check_image_path(path: Path) -> None:
    """Before any work: `path` names an image of a format matplotlib writes, not a folder."""
    formats = matplotlib.figure.Figure().canvas.get_supported_filetypes()
    if path.is_dir():
        raise RlnasError(f"--out {path} is a folder; give an image file such as {path / 'plot.png'}")
    if path.suffix.lstrip(".").lower() not in formats:
        raise RlnasError(f"--out {path}: give an image file ending in one of .{', .'.join(sorted(formats))}")


def _save(fig, path: Path) -> None:
    """Render to a temporary name and rename, so a kill never leaves a broken image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


def plot_anytime(
    curves: dict[str, np.ndarray], best_possible: float | None, benchmark: str, metric: str, path: Path
) -> None:
    """Regret of the best-so-far score against queries (log y), mean and 95% band per strategy;
    the best-so-far score itself where the benchmark's best is unknown."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        values = best_possible - curve if best_possible is not None else curve
        mean = values.mean(axis=0)
        half = 1.96 * values.std(axis=0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0 * mean
        x = np.arange(1, curve.shape[1] + 1)
        (line,) = ax.plot(x, mean, label=name)
        low = np.maximum(mean - half, 1e-6) if best_possible is not None else mean - half
        ax.fill_between(x, low, mean + half, color=line.get_color(), alpha=0.2)
    label = metric.replace("_", " ")
    if best_possible is not None:
        ax.set_yscale("log")
        ax.set_ylabel(f"regret of best {label}")
    else:
        ax.set_ylabel(f"best {label} so far")
    ax.set_xlabel("unique architectures queried")
    runs = next(iter(curves.values())).shape[0]
    ax.set_title(f"{benchmark}: mean over {runs} runs, 95% band")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _save(fig, path)


def plot_regret_by_budget(panels: dict[str, dict[str, dict[str, dict]]], path: Path) -> None:
    """One panel per benchmark: mean regret at the end of a search against its budget (log x), with 95%
    error bars, one line per strategy; `panels[benchmark][strategy][budget]` holds a per-budget table's
    `mean_regret` and `ci95` (points, as `scripts/budget_table.py` writes them)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    for ax, (benchmark, strategies) in zip(axes[0], panels.items(), strict=True):
        for name, by_budget in strategies.items():
            budgets = sorted(by_budget, key=int)
            mean = np.array([by_budget[b]["mean_regret"] for b in budgets])
            half = np.array([by_budget[b]["ci95"] or 0.0 for b in budgets])  # None: a single run
            ax.errorbar([int(b) for b in budgets], mean, yerr=half, label=name, capsize=3, marker="o", markersize=3)
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("budget of the search (unique architectures)")
        ax.set_title(benchmark)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    axes[0][0].set_ylabel("mean regret at the end (percentage points)")
    fig.tight_layout()
    _save(fig, path)


def plot_sampler_histograms(draws: dict[str, np.ndarray], uniform: np.ndarray, path: Path) -> None:
    """Vertex and edge count histograms of each sampler's draws beside the uniform-over-table one.

    `draws[name]` and `uniform` are (n, 2) arrays of (vertex count, edge count).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column, label in ((axes[0], 0, "vertices"), (axes[1], 1, "edges")):
        values = np.concatenate([uniform[:, column], *(d[:, column] for d in draws.values())])
        bins = np.arange(values.min(), values.max() + 2) - 0.5
        ax.hist(
            uniform[:, column],
            bins=bins,
            density=True,
            histtype="step",
            lw=2.5,
            color="black",
            label="uniform over the NB101 table",
        )
        for name, d in draws.items():
            ax.hist(
                d[:, column],
                bins=bins,
                density=True,
                histtype="step",
                lw=1.5,
                label=f"{name} ({len(d):,} draws)",
            )
        ax.set_yscale("log")
        ax.set_xlabel(f"number of {label}")
        ax.set_ylabel("probability")
    axes[0].legend(fontsize=8)
    _save(fig, path)


def plot_reward_histograms(accuracies: np.ndarray, shaped: dict[str, np.ndarray], title: str, path: Path) -> None:
    """The accuracy histogram over a benchmark and, beside it, each shaped reward's."""
    fig, axes = plt.subplots(1, 1 + len(shaped), figsize=(5 * (1 + len(shaped)), 4))
    for ax, (label, values) in zip(axes, [("accuracy", accuracies), *shaped.items()], strict=True):
        ax.hist(values, bins=100)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("cells")
    fig.suptitle(title)
    _save(fig, path)


def plot_reward_shaping(
    scores: np.ndarray,
    grid: np.ndarray,
    curves: dict[str, np.ndarray],
    references: dict[str, np.ndarray],
    scale: tuple[float, float],
    title: str,
    metric: str,
    score_label: str,
    path: Path,
) -> None:
    """Shaped rewards against the score on `grid` (top; `references` dashed) over the histogram of
    `scores` (bottom, labelled `score_label`), with the reward scale's (lo, hi) marked."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, height_ratios=(3, 2))
    for label, values in curves.items():
        top.plot(grid, values, label=label)
    for label, values in references.items():
        top.plot(grid, values, linestyle="--", label=label)
    bottom.hist(scores, bins=80, color="0.6", label=score_label)
    for x, name in zip(scale, ("median", "max"), strict=True):
        top.axvline(x, color="0.3", linestyle=":", label=f"reward scale: {name} of the reference scores")
        bottom.axvline(x, color="0.3", linestyle=":")
    top.set_ylabel("shaped reward of the best score")
    top.set_title(title)
    bottom.set_xlabel(metric)
    bottom.set_ylabel("architectures")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def plot_training_curves(runs: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """Mean episode-best shaped reward (and its running mean) against environment steps, per run.

    `runs[label]` holds `env_steps` and `episode_best_shaped` columns of a training's metrics.csv.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, columns in runs.items():
        steps, best = columns["env_steps"], columns["episode_best_shaped"]
        keep = ~np.isnan(best)
        (line,) = ax.plot(steps[keep], best[keep], alpha=0.3)
        window = max(1, int(keep.sum()) // 20)
        smooth = np.convolve(best[keep], np.ones(window) / window, mode="valid")
        ax.plot(steps[keep][window - 1 :], smooth, color=line.get_color(), label=label)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean episode-best shaped reward")
    ax.grid(True, alpha=0.3)
    ax.legend()
    _save(fig, path)


def plot_general_training(episodes: list[dict], title: str, path: Path, window: int = 50) -> None:
    """A general policy's training curve: the episode return over all tasks, then the best score each episode
    found, one panel per task; rolling means over `window` episodes, against environment steps.

    `episodes` are the rows of a training's episodes.json (env_steps, task, return, best_score, and whether
    the teacher acted: its episodes are drawn apart, for comparison).
    """
    tasks = list(dict.fromkeys(e["task"] for e in episodes))
    columns = min(4, len(tasks) + 1)
    rows = -(-(len(tasks) + 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False)

    groups = {"policy": False, "teacher": True}
    if not any(e.get("teacher") for e in episodes):
        groups = {"policy": False}

    def rolling(ax, rows_: list[dict], key: str, label: str) -> None:
        for (name, teacher), color in zip(groups.items(), ("C0", "C1"), strict=False):
            chosen = [e for e in rows_ if e.get("teacher", False) == teacher]
            steps = np.array([e["env_steps"] for e in chosen])
            values = np.array([e[key] for e in chosen], dtype=float)
            size = max(1, min(window, len(values) // 5))
            ax.plot(steps, values, ".", markersize=2, alpha=0.25, color=color)
            if len(values) >= size:
                mean = np.convolve(values, np.ones(size) / size, mode="valid")
                ax.plot(steps[size - 1 :], mean, color=color, label=name)
        if len(groups) > 1:
            ax.legend(fontsize=7)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)

    rolling(axes[0, 0], episodes, "return", "episode return (shaped best gained)")
    axes[0, 0].set_title("all tasks", fontsize=10)
    for k, task in enumerate(tasks, start=1):
        ax = axes[k // columns, k % columns]
        rolling(ax, [e for e in episodes if e["task"] == task], "best_score", "best score found")
        ax.set_title(task, fontsize=10)
    for k in range(len(tasks) + 1, rows * columns):
        axes[k // columns, k % columns].set_visible(False)
    fig.suptitle(f"{title}: dots are episodes, lines rolling means over up to {window} episodes")
    fig.tight_layout()
    _save(fig, path)
