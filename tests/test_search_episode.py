"""The search-episode environment, the one network for every space, and the learned strategy on the runner."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from rlnas.agents.general_policy import GeneralPolicy, random_policy
from rlnas.agents.general_qnetwork import obs_to_tensors, q_values, stack_observations
from rlnas.agents.policy import SHIPPED_POLICIES, load_policy
from rlnas.benchmarks import load_benchmark
from rlnas.benchmarks.transformed import TransformedScores, swap_halves
from rlnas.env.edit_guide import EditGuideConfig
from rlnas.env.search_episode import (
    ACTION_KINDS,
    CONTEXT_FIELDS,
    ELITE_FIELDS,
    SLOT_OFFSET,
    EpisodeConfig,
    SearchEpisodeEnv,
    Task,
    elite_climb_action,
    elite_search_action,
    local_search_action,
)
from rlnas.errors import CheckpointError, RlnasError
from rlnas.spaces.layout import OP_CHANGE
from rlnas.strategies import make_strategy
from rlnas.strategies.learned import LearnedSearch
from rlnas.strategies.runner import run_search
from tests.conftest import make_cell

#: Small sizes keep the tests fast; the defaults are for training.
SMALL = EpisodeConfig(num_elites=2, recent_edits=3, step_cap=2.0)
TINY_NETWORK = {"d_model": 16, "num_layers": 1, "num_heads": 2, "ff_dim": 32, "head_dim": 16}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def benchmarks(data_path):
    names = ("nb101", "nb201-cifar10", "nbgraph-cora", "nb301-distilled")
    return {name: load_benchmark(name, data=data_path) for name in names}


def _random_episode(env: SearchEpisodeEnv, seed: int, choose=None):
    """Step uniformly random valid actions to the end; the observations, rewards and last info."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    observations, rewards, done = [obs], [], False
    while not done:
        valid = np.flatnonzero(obs["action_mask"] if choose is None else choose(obs))
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(valid)))
        observations.append(obs)
        rewards.append(reward)
        done = terminated or truncated
    return observations, rewards, info, terminated


@pytest.mark.parametrize("name", ["nb101", "nb201-cifar10", "nbgraph-cora", "nb301-distilled"])
def test_gymnasium_check_env_passes(benchmarks, name):
    env = SearchEpisodeEnv(Task(benchmarks[name], (5, 12), scale=(0.5, 1.0)), SMALL)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert all(obs[k].dtype == np.int8 for k in ("action_mask", "action_seen", "tokens", "action_args"))
    assert obs["action_mask"].shape == (1 + SMALL.num_elites + SMALL.max_edits,)


def test_return_telescopes_to_the_final_shaped_best_and_the_budget_ends_the_search(benchmarks):
    env = SearchEpisodeEnv(Task(benchmarks["nb101"], (30, 30)), EpisodeConfig(step_cap=10.0))
    _, rewards, info, terminated = _random_episode(env, seed=3)
    assert terminated and info["unique_queries"] == info["budget"] == 30
    start = env.session.history[0].score
    assert sum(rewards) == pytest.approx(env.shaped(info["best_score"]) - env.shaped(start))
    assert min(rewards) >= 0.0 and max(rewards) > 0.0
    assert env._scale == (np.median(benchmarks["nb101"].all_scores()), benchmarks["nb101"].all_scores().max())


def test_revisits_gain_nothing_and_cost_steps_of_the_cap(benchmarks):
    env = SearchEpisodeEnv(Task(benchmarks["nb201-cifar10"], (40, 40)), SMALL)
    obs, _ = env.reset(seed=1)
    edit = int(np.flatnonzero(obs["action_mask"][1 + SMALL.num_elites :])[0]) + 1 + SMALL.num_elites
    obs, *_ = env.step(edit)  # two cells known: the elites
    queries, steps, done = env.session.unique_queries, env.steps, False
    while not done:
        elite = 1 + int(np.flatnonzero(obs["action_mask"][1 : 1 + SMALL.num_elites])[0])
        assert obs["action_seen"][elite] == 1
        obs, reward, terminated, truncated, info = env.step(elite)  # back and forth between the two elites
        assert reward == 0.0 and not info["new"]
        done = terminated or truncated
    assert truncated and not terminated
    assert env.session.unique_queries == queries and env.steps == env.step_cap == 80 > steps


@pytest.mark.parametrize("name", ["nb101", "nb301-distilled"])
def test_with_unseen_edits_only_every_edit_is_a_query(benchmarks, name):
    config = EpisodeConfig(num_elites=2, recent_edits=3, step_cap=4.0, unseen_edits_only=True)
    env = SearchEpisodeEnv(Task(benchmarks[name], (40, 40)), config)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=2)
    rng, first, edits, done = np.random.default_rng(2), 1 + config.num_elites, 0, False
    while not done:
        assert not np.any(obs["action_mask"][first:] & obs["action_seen"][first:])
        action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        queries = env.session.unique_queries
        obs, _, terminated, truncated, info = env.step(action)
        if action >= first:
            edits += 1
            assert info["new"] and env.session.unique_queries == queries + 1
        done = terminated or truncated
    assert edits > 10


def test_keep_better_only_moves_on_improving_edits_alone(benchmarks):
    config = EpisodeConfig(num_elites=2, step_cap=3.0, unseen_edits_only=True, keep_better_only=True)
    env = SearchEpisodeEnv(Task(benchmarks["nb201-cifar10"], (60, 60)), config)
    obs, _ = env.reset(seed=6)
    rng, first, moved, stayed, done = np.random.default_rng(6), 1 + config.num_elites, 0, 0, False
    while not done:
        action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        before = (env.identity, env._observed[env.identity])
        obs, _, terminated, truncated, _ = env.step(action)
        if action >= first:
            queried = env.session.history[-1]
            better = env._observed[env.task.benchmark.identity(queried.cell)] > before[1]
            assert env.identity == (env.task.benchmark.identity(queried.cell) if better else before[0])
            moved, stayed = moved + better, stayed + (not better)
            assert obs["recent"][0, len(ACTION_KINDS) + 2] == 1.0  # the query is in the recent moves
        done = terminated or truncated
    assert moved > 0 and stayed > 0


def test_the_teacher_is_local_search_from_the_best_cell(benchmarks):
    """Every cell the teacher queries is a neighbour of the best cell found before it, or a fresh sample once
    every neighbour of the best is known; it never revisits by an edit."""
    bench = benchmarks["nb201-cifar10"]
    env = SearchEpisodeEnv(Task(bench, (60, 60)), EpisodeConfig(num_elites=2, step_cap=3.0, unseen_edits_only=True))
    obs, _ = env.reset(seed=4)
    rng, first, kinds, done = np.random.default_rng(4), 1 + 2, {"edit": 0, "return": 0, "fresh": 0}, False
    while not done:
        best = env._elites[0][2]
        action = local_search_action(obs, rng)
        if action >= first:
            assert env.identity == best and obs["action_seen"][action] == 0
            kinds["edit"] += 1
        elif action == 1:
            assert env.identity != best
            kinds["return"] += 1
        else:
            assert env.identity == best and obs["context"][CONTEXT_FIELDS.index("known_neighbour_fraction")] == 1.0
            kinds["fresh"] += 1
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    assert terminated and kinds["edit"] >= 40 and kinds["return"] > 0
    assert env.best.score > np.quantile(bench.all_scores(), 0.99)


def test_each_elite_says_how_much_of_its_neighbourhood_the_run_has_queried(benchmarks):
    """An elite's known-neighbour fraction counts the cells one edit away that the run has queried; the
    current elite's equals the context's, and it reaches 1 once every neighbour is queried."""
    bench = benchmarks["nb201-cifar10"]
    config = EpisodeConfig(num_elites=2, unseen_edits_only=True, keep_better_only=True)
    env = SearchEpisodeEnv(Task(bench, (200, 200)), config)
    obs, _ = env.reset(seed=3)
    known, context = ELITE_FIELDS.index("known_neighbour_fraction"), CONTEXT_FIELDS.index("known_neighbour_fraction")
    first = config.first_edit
    while obs["context"][context] < 1.0:  # climb: the current cell is the best, an elite
        obs, *_ = env.step(first + int(np.flatnonzero(obs["action_mask"][first:])[0]))
        for k, (_, _, identity, arch) in enumerate(env._elites):
            targets = [bench.identity(t.prune() or t) for _, t in bench.space.edits(arch)]
            expected = np.mean([t in env._observed for t in targets])
            assert obs["elites"][k, known] == pytest.approx(expected)
            if identity == env.identity:
                assert obs["elites"][k, known] == obs["context"][context]
    assert obs["elites"][[e[2] for e in env._elites].index(env.identity), known] == 1.0


def test_the_climb_teacher_climbs_each_elite_until_it_is_spent_then_samples(benchmarks):
    """The climb teacher edits while the current cell has an unqueried neighbour; otherwise it returns to the
    best elite whose neighbourhood is not spent, and samples afresh only when every elite's is; it finds a
    top-1% cell."""
    bench = benchmarks["nb201-cifar10"]
    config = EpisodeConfig(num_elites=3, step_cap=3.0, unseen_edits_only=True, keep_better_only=True)
    env = SearchEpisodeEnv(Task(bench, (150, 150)), config)
    obs, _ = env.reset(seed=6)
    rng, first, kinds, done = np.random.default_rng(6), config.first_edit, Counter(), False
    known, context = ELITE_FIELDS.index("known_neighbour_fraction"), CONTEXT_FIELDS.index("known_neighbour_fraction")
    while not done:
        action = elite_climb_action(obs, rng)
        spent = obs["elites"][:, known] == 1.0
        if action >= first:
            assert obs["context"][context] < 1.0 and obs["action_seen"][action] == 0
            kinds["edit"] += 1
        elif action >= 1:
            assert obs["context"][context] == 1.0 and not spent[action - 1] and spent[: action - 1].all()
            kinds["return"] += 1
        else:
            assert obs["context"][context] == 1.0 and spent[: len(env._elites)].all()
            kinds["fresh"] += 1
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    assert terminated and min(kinds.values()) > 0
    assert env.best.score > np.quantile(bench.all_scores(), 0.99)


def test_the_elite_teacher_edits_elites_and_returns_to_each_of_them(benchmarks):
    """The elite teacher edits only elite cells, to cells the run has not queried; its returns go to every
    elite, not only the best; and it searches (its best is in the table's top 1%)."""
    bench = benchmarks["nb201-cifar10"]
    config = EpisodeConfig(num_elites=3, step_cap=3.0, unseen_edits_only=True, keep_better_only=True)
    env = SearchEpisodeEnv(Task(bench, (80, 80)), config)
    obs, _ = env.reset(seed=5)
    rng, first, returns, done = np.random.default_rng(5), 1 + 3, Counter(), False
    while not done:
        action = elite_search_action(obs, rng)
        if action >= first:
            assert env.identity in {e[2] for e in env._elites} and obs["action_seen"][action] == 0
        elif action >= 1:
            returns[action] += 1
            assert env._elites[action - 1][2] != env.identity
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    assert terminated and set(returns) == {1, 2, 3}
    assert env.best.score > np.quantile(bench.all_scores(), 0.99)


def test_observations_depend_on_the_order_of_scores_only(benchmarks):
    """The same moves see the same states under a monotone transform of the scores, other states when the
    two halves of the space swap places."""
    base = benchmarks["nb201-cifar10"]
    variants = {
        "base": base,
        "monotone": TransformedScores(base, lambda x: np.exp(10 * x)),
        "swapped": TransformedScores(base, swap_halves(base.all_scores())),
    }

    def edits_and_fresh(obs):  # moves whose targets do not depend on the scores (elites do)
        mask = obs["action_mask"].copy()
        mask[1 : 1 + SMALL.num_elites] = 0
        return mask

    runs = {}
    for name, bench in variants.items():
        env = SearchEpisodeEnv(Task(bench, (25, 25)), SMALL)
        runs[name] = _random_episode(env, seed=5, choose=edits_and_fresh)[0]
    assert len(runs["base"]) == len(runs["monotone"])
    for a, b in zip(runs["base"], runs["monotone"], strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    differs = [
        any(not np.array_equal(a[k], b[k]) for k in a) for a, b in zip(runs["base"], runs["swapped"], strict=True)
    ]
    assert sum(differs) > len(differs) // 2


def test_ops_are_slots_relabelled_per_episode(benchmarks):
    bench = benchmarks["nbgraph-cora"]
    layout = bench.space.edit_layout.arrays
    slot_maps = set()
    for seed in range(4):
        env = SearchEpisodeEnv(Task(bench, (10, 10)), SMALL)
        obs, _ = env.reset(seed=seed)
        cell = env.cell
        tokens = obs["tokens"][0, 1 : cell.num_vertices - 1]
        slots = tuple(env._slots)
        assert list(tokens) == [SLOT_OFFSET + slots[o] for o in cell.ops[1:-1]]
        op_changes = np.flatnonzero(layout[:, 0] == OP_CHANGE)
        args = obs["action_args"][1 + SMALL.num_elites + op_changes]
        assert list(args[:, 3]) == [slots[o] for o in layout[op_changes, 4]]
        slot_maps.add(slots)
    assert len(slot_maps) == 4
    fixed = SearchEpisodeEnv(Task(bench, (10, 10)), EpisodeConfig(relabel_ops=False))
    fixed.reset(seed=0)
    assert fixed._slots == list(range(len(bench.space.op_names)))


def test_edit_kinds_are_slots_relabelled_per_episode_when_asked(benchmarks):
    bench = benchmarks["nb101"]
    layout = bench.space.edit_layout.arrays
    first = 1 + SMALL.num_elites
    edits = np.arange(len(layout))
    kind_maps = set()
    for seed in range(6):
        env = SearchEpisodeEnv(Task(bench, (10, 10)), replace(SMALL, relabel_kinds=True))
        obs, _ = env.reset(seed=seed)
        shown = obs["action_args"][first + edits, 0]
        kind_map = {int(k): int(v) for k, v in zip(layout[:, 0], shown, strict=True)}
        assert all(kind_map[int(k)] == v for k, v in zip(layout[:, 0], shown, strict=True))  # a consistent map
        assert len(set(kind_map.values())) == len(kind_map)  # an injection
        assert [env.move_kind(first + e) for e in edits] == [ACTION_KINDS[k] for k in layout[:, 0]]
        assert env.move_kind(0) == "fresh_sample" and env.move_kind(1) == "return_elite"
        kind_maps.add(tuple(sorted(kind_map.items())))
    assert len(kind_maps) > 1
    fixed = SearchEpisodeEnv(Task(bench, (10, 10)), SMALL)
    obs, _ = fixed.reset(seed=0)
    assert list(obs["action_args"][first + edits, 0]) == list(layout[:, 0])


def test_a_space_that_does_not_fit_the_sizes_is_a_one_line_error(benchmarks):
    with pytest.raises(RlnasError, match="raise max_vertices to at least 30"):
        SearchEpisodeEnv(Task(benchmarks["nb301-distilled"]), EpisodeConfig(max_vertices=20))
    with pytest.raises(RlnasError, match="raise max_edits"):
        SearchEpisodeEnv(Task(benchmarks["nb101"]), EpisodeConfig(max_edits=50))
    with pytest.raises(RlnasError, match="raise op_slots"):
        SearchEpisodeEnv(Task(benchmarks["nbgraph-cora"]), EpisodeConfig(op_slots=5))
    with pytest.raises(RlnasError, match="num_elites"):
        SearchEpisodeEnv(Task(benchmarks["nb101"]), EpisodeConfig(num_elites=0))
    with pytest.raises(RlnasError, match="step_cap"):
        SearchEpisodeEnv(Task(benchmarks["nb101"]), EpisodeConfig(step_cap=0.5))


def test_one_network_acts_in_every_space(benchmarks):
    """The same instance gives valid masked Q-values on NB101, NB201, NAS-Bench-Graph and DARTS
    observations, and a batch mixing them gives each the Q-values it gets alone (padding is inert)."""
    policy = random_policy(SMALL, seed=0, **TINY_NETWORK)
    observations = []
    for name, bench in benchmarks.items():
        env = SearchEpisodeEnv(Task(bench, (10, 10), scale=(0.5, 1.0)), SMALL)
        obs, _ = env.reset(seed=2)
        obs, *_ = env.step(int(np.flatnonzero(obs["action_mask"])[-1]))
        q = policy.q_values(obs)
        valid = obs["action_mask"].astype(bool)
        assert np.isfinite(q[valid]).all() and np.isneginf(q[~valid]).all(), name
        assert len(np.unique(q[valid])) > 1
        observations.append(obs)
    small = SearchEpisodeEnv(Task(benchmarks["nb101"], (10, 10), scale=(0.5, 1.0)), SMALL)
    obs, _ = small.reset(seed=0, options={"cell": make_cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [0])})
    q = policy.q_values(obs)  # masked edits name vertices beyond this 3-vertex cell
    assert np.isfinite(q[obs["action_mask"] == 1]).all() and np.isneginf(q[obs["action_mask"] == 0]).all()
    observations.append(obs)
    kinds = {ACTION_KINDS[k] for o in observations for k in o["action_args"][o["action_mask"] == 1, 0]}
    assert kinds == set(ACTION_KINDS)  # every head is exercised
    with torch.inference_mode():
        batch = policy.network(obs_to_tensors(stack_observations(observations))).numpy()
    for obs, row in zip(observations, batch, strict=True):
        valid = obs["action_mask"].astype(bool)
        np.testing.assert_allclose(row[valid], q_values(policy.network, obs)[valid], rtol=1e-4, atol=1e-5)


def test_a_general_policy_file_round_trips(tmp_path, benchmarks):
    policy = random_policy(SMALL, seed=4, **TINY_NETWORK)
    policy.trained_on = [{"benchmark": "nb201-cifar10", "budget": [20, 100]}]
    policy.save(tmp_path / "general.pt")
    loaded = GeneralPolicy.load(tmp_path / "general.pt")
    env = SearchEpisodeEnv(Task(benchmarks["nb101"], (10, 10)), SMALL)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(loaded.q_values(obs), policy.q_values(obs))
    assert loaded.fingerprint == policy.fingerprint and loaded.episode == SMALL
    assert LearnedSearch(tmp_path / "general.pt").trained_on == ["nb201-cifar10"]
    payload = torch.load(tmp_path / "general.pt", weights_only=True)
    next(iter(payload["weights"].values())).view(-1)[0] += 1.0  # a changed byte that still loads as a tensor
    torch.save(payload, tmp_path / "changed.pt")
    with pytest.raises(CheckpointError, match="do not match their stored checksum"):
        GeneralPolicy.load(tmp_path / "changed.pt")
    for shipped in ("taught-climb", "taught-climb-no-nb101", "general"):
        assert "weights_sha256" in torch.load(SHIPPED_POLICIES / f"{shipped}.pt", weights_only=True)


def test_the_learned_strategy_responds_to_the_scores_it_observes(benchmarks):
    """On the runner, fixed random networks ask exactly the same cells when the scores pass through a
    monotone transform, and in several runs other cells when the two halves of NB201 swap places.

    Untrained networks are nearly blind to their inputs (most of them walk by op changes alone), so only
    some of their routes change; a trained policy must respond far more, which its evaluation measures.
    """
    base = benchmarks["nb201-cifar10"]
    monotone = TransformedScores(base, lambda x: np.exp(10 * x))
    swapped = TransformedScores(base, swap_halves(base.all_scores()))

    def route(policy, bench, seed):
        result = run_search(LearnedSearch(policy, budget=40), bench, 40, np.random.default_rng(seed))
        cells = [base.identity(e.cell) for e in result.history]
        assert len(cells) == 40 == len(set(cells))
        return cells

    diverged = []
    for policy_seed in range(4):
        policy = random_policy(SMALL, seed=policy_seed)
        for seed in range(3):
            original = route(policy, base, seed)
            if policy_seed == 0:
                assert route(policy, monotone, seed) == original
            diverged.append(route(policy, swapped, seed) != original)
    assert sum(diverged) >= 4, diverged


@pytest.mark.parametrize("name", ["nb101", "nbgraph-cora", "nb301-distilled"])
def test_one_policy_searches_every_space_on_the_runner(benchmarks, name):
    policy = random_policy(SMALL, seed=1, **TINY_NETWORK)
    result = run_search(LearnedSearch(policy, budget=12), benchmarks[name], 12, np.random.default_rng(0))
    assert result.stop_reason == "budget" and len({benchmarks[name].identity(e.cell) for e in result.history}) == 12


def test_the_learned_strategy_reports_its_moves_by_kind(benchmarks):
    """Every proposal after a run's (or a cut episode's) start sample is one move, counted by its kind."""
    strategy = LearnedSearch(random_policy(SMALL, seed=2, **TINY_NETWORK), budget=15)
    result = run_search(strategy, benchmarks["nbgraph-cora"], 15, np.random.default_rng(3))
    moves = strategy.overhead()
    assert set(moves) <= {f"moves_{kind}" for kind in ACTION_KINDS} and all(n > 0 for n in moves.values())
    starts = result.total_queries - sum(moves.values())
    assert starts >= 1  # the run's start sample (and one per episode cut by the step cap)


def test_uniform_edits_keep_the_networks_kind_of_move_and_draw_the_edit_at_random(benchmarks):
    """`act(obs, edit_rng)`: the same move as the greedy one when that is a fresh sample or a return, else a
    valid edit drawn from the generator (the same seed, the same edit; over many draws, many edits)."""
    policy = random_policy(SMALL, seed=4, **TINY_NETWORK)
    env = SearchEpisodeEnv(Task(benchmarks["nb101"], (40, 40)), SMALL)
    obs, _ = env.reset(seed=0)
    first, edits_drawn, moves = 1 + SMALL.num_elites, set(), 0
    for step in range(30):
        greedy = policy.act(obs)
        drawn = policy.act(obs, np.random.default_rng(step))
        assert drawn == policy.act(obs, np.random.default_rng(step)) and obs["action_mask"][drawn] == 1
        if greedy < first:
            assert drawn == greedy
        else:
            assert drawn >= first
            edits_drawn.add(drawn)
            moves += 1
        obs, _, terminated, truncated, _ = env.step(drawn)
        if terminated or truncated:
            break
    assert moves >= 10 and len(edits_drawn) >= moves // 2


def test_the_learned_spec_names_its_edit_choice(benchmarks, tmp_path):
    path = tmp_path / "general.pt"
    random_policy(SMALL, seed=5, **TINY_NETWORK).save(path)
    assert make_strategy(f"learned:{path}:uniform").edits == "uniform"
    assert make_strategy(f"learned:{path}").edits == "greedy"
    with pytest.raises(RlnasError, match="unknown edit choice 'best'"):
        make_strategy(f"learned:{path}:best")

    def cells(spec: str) -> list:
        return [
            e.cell for e in run_search(make_strategy(spec), benchmarks["nb101"], 15, np.random.default_rng(7)).history
        ]

    assert cells(f"learned:{path}:uniform") == cells(f"learned:{path}:uniform")  # the run's generator draws the edits
    assert make_strategy(f"learned:{path}:guided").edits == "guided"
    assert cells(f"learned:{path}:guided") == cells(f"learned:{path}:guided")


def test_guided_edits_keep_the_networks_kind_of_move_and_query_a_cell_the_run_has_not(benchmarks, tmp_path):
    """`learned:NAME:guided`: where the network edits, the guide's edit (to an unseen cell) is taken instead;
    fresh samples and returns are the network's."""
    policy = random_policy(SMALL, seed=4, **TINY_NETWORK)
    strategy = LearnedSearch(policy, budget=40, edits="guided")
    strategy.start(benchmarks["nb101"].space, np.random.default_rng(0))
    session = benchmarks["nb101"].session(budget=None, rng=np.random.default_rng(0))
    edits = 0
    while (cell := strategy.ask()) is not None and session.unique_queries < 40:
        if strategy.obs is not None:
            greedy, chosen = policy.act(strategy.obs), strategy.pending[1]
            if greedy < SMALL.first_edit:
                assert chosen == greedy
            elif strategy.env.unseen_edit_targets():
                assert chosen >= SMALL.first_edit and not session.seen(cell)
                edits += 1
        before = session.unique_queries
        result = session.query(cell)
        strategy.tell(cell, result, session.unique_queries > before)
    assert edits >= 10


def test_a_guided_run_starts_with_a_random_design_and_the_policy_from_its_best(benchmarks):
    """`EditGuideConfig.initial_samples` fresh samples first (the guide's first fit), then the episode starts
    at the best of them, with all of them in the run's memory."""
    bench = benchmarks["nb101"]
    strategy = LearnedSearch(random_policy(SMALL, seed=4, **TINY_NETWORK), budget=30, edits="guided")
    strategy.start(bench.space, np.random.default_rng(3))
    session = bench.session(budget=None, rng=np.random.default_rng(3))
    for _ in range(EditGuideConfig().initial_samples):
        assert strategy.obs is None  # the policy has not acted yet
        cell = strategy.ask()
        strategy.tell(cell, session.query(cell), True)
    best = max(session.history, key=lambda e: e.score)
    assert strategy.obs is not None and strategy.moves == {}
    assert bench.identity(strategy.env.cell) == bench.identity(best.cell)
    assert strategy.env.session.unique_queries == EditGuideConfig().initial_samples


def test_a_guided_runs_fresh_samples_are_the_guides_pick_among_unseen_candidates(benchmarks, monkeypatch):
    """Where the network draws a fresh sample, the guide picks it among the candidates (the space's samples
    and mutants of the best cells) the run has not queried; those it leaves to the sampler, the episode's
    sampler draws."""
    bench = benchmarks["nb101"]
    for guide in (EditGuideConfig(fresh_uniform=0.0), EditGuideConfig(fresh_uniform=1.0)):
        strategy = LearnedSearch(random_policy(SMALL, seed=4, **TINY_NETWORK), budget=30, edits="guided", guide=guide)
        strategy.start(bench.space, np.random.default_rng(3))
        session = bench.session(budget=None, rng=np.random.default_rng(3))
        for _ in range(EditGuideConfig().initial_samples):  # the random design
            cell = strategy.ask()
            strategy.tell(cell, session.query(cell), True)
        offered: list[dict] = []

        def last_candidate(history, options, rng, offered=offered):
            offered.append(options)
            return list(options)[-1]

        monkeypatch.setattr(strategy.edit_guide, "choose", last_candidate)
        monkeypatch.setattr(strategy, "choose", lambda obs: 0)  # the network draws a fresh sample
        cell = strategy.ask()
        if guide.fresh_uniform == 1.0:
            assert offered == [] and not session.seen(cell)
            continue
        [options] = offered
        assert 0 < len(options) <= guide.fresh_candidates + guide.fresh_mutants
        assert not any(session.seen(c) for c in options.values())
        assert cell is list(options.values())[-1]
        before = session.unique_queries
        strategy.tell(cell, session.query(cell), True)
        assert session.unique_queries == before + 1 and bench.identity(strategy.env.cell) == bench.identity(cell)


def test_loading_a_policy_leaves_torchs_global_generator_alone(tmp_path):
    """The network built to receive the weights draws its throwaway initial weights in a forked generator."""
    random_policy(SMALL, seed=2, **TINY_NETWORK).save(tmp_path / "general.pt")
    state = torch.get_rng_state()
    GeneralPolicy.load(tmp_path / "general.pt")
    load_policy("nb201-cifar10")
    assert torch.equal(state, torch.get_rng_state())
