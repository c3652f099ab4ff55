"""The REINFORCE controller: decoding, the invalid-sample policy, log-probabilities, determinism, budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlnas.cells import nodes_to_edges
from rlnas.errors import InvalidCellError, RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison
from rlnas.spaces import NB101_SPACE, NB201_SPACE, NBGRAPH_SPACE
from rlnas.spaces.darts import DARTS_OPS, DARTS_SPACE
from rlnas.spaces.nb201 import NB201_EDGES, nb201_cell_to_string
from rlnas.strategies import STRATEGIES, make_strategy
from rlnas.strategies import controller as ctl
from rlnas.strategies.reinforce import Reinforce, ReinforceConfig
from rlnas.strategies.runner import RayExecutor, run_search

CONFIG = ReinforceConfig(hidden_size=16)


def fresh(space, seed: int = 0, config: ReinforceConfig = CONFIG) -> ctl.Controller:
    return ctl.make_controller(space, config.hidden_size, config.init_range, seed)


@pytest.fixture
def recorded(monkeypatch):
    """Record every decision step of a controller pass: (kind, logits, taken)."""
    steps: list[tuple[str, torch.Tensor, torch.Tensor]] = []

    def wrap(kind, original):
        def step(logits, taken, generator):
            result = original(logits, taken, generator)
            steps.append((kind, logits.detach().clone(), result[0].clone()))
            return result

        return step

    monkeypatch.setattr(ctl, "_categorical", wrap("op", ctl._categorical))
    monkeypatch.setattr(ctl, "_bernoulli", wrap("edges", ctl._bernoulli))
    return steps


# ------------------------------------------------------------------ decoding


def test_nb201_decisions_decode_to_the_ops_the_controller_chose(recorded):
    controller = fresh(NB201_SPACE)
    decisions, _, _ = controller(num_samples=64, generator=torch.Generator().manual_seed(1))
    assert [kind for kind, _, _ in recorded] == ["op"] * len(NB201_EDGES)
    for b, row in enumerate(decisions.tolist()):
        cell = controller.decode(row)
        edges = {(src, dst): op for src, dst, op in nodes_to_edges(cell).edges}
        for k, (src, dst) in enumerate(NB201_EDGES):  # step k chose the op of edge k
            assert edges[src, dst] == int(recorded[k][2][b]) == row[k]
        assert NB201_SPACE.validate(cell) == cell
        assert controller.encode(cell) == row


def test_nb101_decisions_decode_to_the_ops_and_edges_the_controller_chose(recorded):
    controller = fresh(NB101_SPACE)
    n = NB101_SPACE.max_vertices
    decisions, _, _ = controller(num_samples=64, generator=torch.Generator().manual_seed(2))
    # The schedule: vertex i's op (interior vertices), then one Bernoulli per earlier vertex j -> i.
    expected = [("edges", i) for i in range(1, n)]
    for i in range(1, n - 1):
        expected.insert(expected.index(("edges", i)), ("op", 0))
    assert [(kind, logits.shape[1] if kind == "edges" else 0) for kind, logits, _ in recorded] == expected
    for b, row in enumerate(decisions.tolist()):
        matrix, ops = np.zeros((n, n), dtype=int), [None] * n
        vertex = 0
        for kind, _, taken in recorded:
            if kind == "op":
                ops[vertex + 1] = int(taken[b])
            else:
                vertex = taken.shape[1]  # the call for vertex i has i columns: sources 0..i-1
                matrix[:vertex, vertex] = taken[b].numpy()
        cell = controller.decode(row)
        assert np.array_equal(cell.matrix, matrix)
        assert list(cell.ops[1:-1]) == ops[1 : n - 1]


def test_nb201_decisions_share_one_op_head_and_embedding():
    # The parameters of the NB201 controller that preceded the generic one, in the same order (what
    # keeps a seed's NB201 runs identical to those measured in docs/reinforce.md).
    controller = fresh(NB201_SPACE)
    h = CONFIG.hidden_size
    assert isinstance(controller, ctl.ChoiceController) and controller.group == [0] * 6
    lstm = [(4 * h, h), (4 * h, h), (4 * h,), (4 * h,)]
    assert [tuple(p.shape) for p in controller.parameters()] == [(1, h), *lstm, (5, h), (5, h), (5,)]


def test_darts_schedule_is_the_space_choices_with_a_head_per_option_set(recorded):
    controller = fresh(DARTS_SPACE)
    choices = DARTS_SPACE.choices()
    assert controller.num_decisions == len(choices) == 2 * 4 * 3
    decisions, _, _ = controller(num_samples=64, generator=torch.Generator().manual_seed(9))
    assert [logits.shape[1] for _, logits, _ in recorded] == [len(options) for _, options in choices]
    assert len(controller.heads) == 1 + 4  # the ops, and the source pairs of nodes 2, 3, 4, 5
    for row in decisions.tolist():
        arch = controller.decode(row)
        assert DARTS_SPACE.to_choices(arch) == {
            name: options[d] for (name, options), d in zip(choices, row, strict=True)
        }
        assert controller.encode(arch) == row
    assert decisions[:, 0].eq(0).all()  # node 2's sources are always 0_1


@pytest.mark.parametrize("sampler", ["sample", "sample_genotype"])
def test_darts_encode_decode_round_trip_on_sampled_architectures(sampler):
    controller = fresh(DARTS_SPACE)
    rng = np.random.default_rng(10)
    for _ in range(300):
        arch = getattr(DARTS_SPACE, sampler)(rng)
        assert controller.decode(controller.encode(arch)) == arch
        assert DARTS_SPACE.from_choices(DARTS_SPACE.to_choices(arch)) == arch


def test_nbgraph_encode_decode_round_trip_on_sampled_architectures():
    space = NBGRAPH_SPACE
    controller = fresh(space)
    rng = np.random.default_rng(11)
    for _ in range(300):
        cell = space.sample(rng)  # a canonical cell: decoding a form of it gives it back
        assert controller.decode(controller.encode(cell)) == cell
        assert space.from_choices(space.to_choices(cell)) == cell


def test_darts_to_choices_names_the_lower_sources_op_first():
    arch = DARTS_SPACE.arch([(1, 3), (0, 2)] * 4, [(1, 6), (0, 4), (2, 0), (0, 0), (3, 1), (1, 5), (4, 2), (2, 3)])
    chosen = DARTS_SPACE.to_choices(arch)
    assert chosen["normal_node2_inputs"] == "0_1" and chosen["normal_node2_op0"] == DARTS_OPS[2]
    assert chosen["reduce_node4_inputs"] == "1_3" and chosen["reduce_node4_op1"] == DARTS_OPS[1]
    assert chosen["reduce_node5_inputs"] == "2_4" and chosen["reduce_node5_op0"] == DARTS_OPS[3]


def test_nb101_encode_decode_round_trip_on_space_cells():
    controller = fresh(NB101_SPACE)
    rng = np.random.default_rng(3)
    for _ in range(300):
        cell = NB101_SPACE.sample(rng)
        decisions = controller.encode(cell)
        assert len(decisions) == controller.num_decisions == 5 + 21
        assert controller.decode(decisions).prune() == cell


# ------------------------------------------------------------------ invalid samples


def test_invalid_draws_are_redrawn_kept_and_never_valid():
    controller = fresh(NB101_SPACE)
    generator = torch.Generator().manual_seed(4)
    rollout = ctl.sample_rollout(controller, NB101_SPACE, batch_size=40, max_attempts=10, generator=generator)
    assert sum(cell is None for cell in rollout.cells) > 0  # a fresh controller draws invalid cells
    assert len(rollout.decisions) == len(rollout.cells) == len(rollout.replicas)
    for replica in range(40):
        draws = [k for k, r in enumerate(rollout.replicas) if r == replica]
        *failed, last = draws
        assert len(draws) <= 10
        assert all(rollout.cells[k] is None for k in failed)  # redrawn until the first valid one
        for k in draws:
            decoded = controller.decode(rollout.decisions[k].tolist())
            if rollout.cells[k] is None:
                with pytest.raises(InvalidCellError):
                    NB101_SPACE.validate(decoded)
            else:
                assert rollout.cells[k] == NB101_SPACE.validate(decoded)
        assert rollout.cells[last] is not None or len(draws) == 10


def test_a_replica_gives_up_after_max_attempts_and_keeps_its_penalised_draws():
    controller = fresh(NB101_SPACE)
    generator = torch.Generator().manual_seed(5)
    rollout = ctl.sample_rollout(controller, NB101_SPACE, batch_size=60, max_attempts=1, generator=generator)
    assert rollout.replicas == list(range(60))  # one draw each, invalid ones included
    invalid = [k for k, cell in enumerate(rollout.cells) if cell is None]
    assert invalid and len(invalid) < 60


def test_invalid_draws_get_the_penalty_and_are_not_queried(nb101):
    strategy = Reinforce(config=ReinforceConfig(hidden_size=16, batch_size=40, invalid_reward=-0.5))
    strategy.start(NB101_SPACE, np.random.default_rng(0))
    asked = []
    while (cell := strategy.ask()) is not None:
        asked.append(cell)
    drawn = strategy._rollout.cells
    assert asked == [cell for cell in drawn if cell is not None] and len(asked) < len(drawn)
    for cell in asked:
        strategy.tell(cell, nb101.evaluate(cell), True)
    assert [r for r, cell in zip(strategy._rewards, drawn, strict=True) if cell is None] == [-0.5] * (
        len(drawn) - len(asked)
    )


def test_penalised_invalid_draws_become_less_likely():
    controller = fresh(NB101_SPACE)
    no_path = torch.zeros(3, controller.num_decisions, dtype=torch.long)  # no edges: input never reaches output
    with pytest.raises(InvalidCellError):
        NB101_SPACE.validate(controller.decode(no_path[0].tolist()))
    before = controller(no_path)[1].detach()
    baseline, penalty = 0.9, 0.0
    loss, _ = ctl.reinforce_loss(controller, no_path, torch.full((3,), penalty - baseline), entropy_weight=0.0)
    loss.backward()
    with torch.no_grad():
        for p in controller.parameters():
            p -= 0.01 * p.grad
    assert (controller(no_path)[1] < before).all()


def test_nb101_search_penalises_invalid_draws_and_spends_the_budget(nb101):
    strategy = Reinforce(config=CONFIG)
    history = strategy.run(nb101, 60, np.random.default_rng(6))
    assert len(history) == 60 == len({e.hash for e in history})
    assert all(NB101_SPACE.validate(e.cell) == e.cell for e in history)
    assert sum(s["invalid"] for s in strategy.stats) > 0
    assert all(s["draws"] >= s["invalid"] for s in strategy.stats)


# ------------------------------------------------------------------ log-probabilities and gradients


@pytest.mark.parametrize("space", [NB101_SPACE, NB201_SPACE, DARTS_SPACE], ids=["nb101", "nb201", "darts"])
def test_log_prob_is_that_of_the_sampled_decisions(space, recorded):
    controller = fresh(space)
    decisions, log_prob, entropy = controller(num_samples=32, generator=torch.Generator().manual_seed(7))
    # Recomputed from the logits each step saw, with torch.distributions.
    expected = torch.zeros(32)
    expected_entropy = torch.zeros(32)
    for kind, logits, taken in recorded:
        dist = (
            torch.distributions.Categorical(logits=logits)
            if kind == "op"
            else torch.distributions.Bernoulli(logits=logits)
        )
        lp, ent = dist.log_prob(taken.float() if kind == "edges" else taken), dist.entropy()
        expected += lp.sum(-1) if kind == "edges" else lp
        expected_entropy += ent.sum(-1) if kind == "edges" else ent
    torch.testing.assert_close(log_prob, expected)
    torch.testing.assert_close(entropy, expected_entropy)
    # Teacher forcing the recorded decisions gives them back with the same log-probabilities.
    recorded.clear()
    forced, forced_log_prob, _ = controller(decisions)
    assert torch.equal(forced, decisions)
    torch.testing.assert_close(forced_log_prob, log_prob)


def test_teacher_forcing_scores_each_sequence_independently():
    controller = fresh(NB201_SPACE)
    decisions = torch.tensor([[0, 1, 2, 3, 4, 0], [4, 4, 4, 4, 4, 4], [0, 1, 2, 3, 4, 0]])
    _, log_prob, _ = controller(decisions)
    assert log_prob[0] == log_prob[2] != log_prob[1]
    _, single, _ = controller(decisions[1:2])
    torch.testing.assert_close(single, log_prob[1:2])


@pytest.mark.parametrize("space", [NB101_SPACE, NB201_SPACE, DARTS_SPACE], ids=["nb101", "nb201", "darts"])
@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_gradient_step_moves_log_prob_with_the_sign_of_the_advantage(space, advantage):
    controller = fresh(space)
    decisions, _, _ = controller(num_samples=1, generator=torch.Generator().manual_seed(8))
    _, before, _ = controller(decisions)
    loss, _ = ctl.reinforce_loss(controller, decisions, torch.tensor([advantage]), entropy_weight=0.0)
    grads = torch.autograd.grad(loss, list(controller.parameters()), allow_unused=True)
    log_prob_grads = torch.autograd.grad(before.sum(), list(controller.parameters()), allow_unused=True)
    used = [(g, h) for g, h in zip(grads, log_prob_grads, strict=True) if g is not None]
    assert used and sum(float(g.abs().sum()) for g, _ in used) > 0
    for g, h in used:  # d loss = -advantage * d log pi
        torch.testing.assert_close(g, -advantage * h)
    with torch.no_grad():
        for p, g in zip(controller.parameters(), grads, strict=True):
            if g is not None:
                p -= 0.01 * g
    _, after, _ = controller(decisions)
    assert (after - before).item() * advantage > 0


def test_entropy_bonus_flattens_the_policy():
    controller = fresh(NB201_SPACE, config=ReinforceConfig(hidden_size=16, init_range=1.0))
    decisions = torch.zeros(4, 6, dtype=torch.long)
    _, _, before = controller(decisions)
    optimizer = torch.optim.SGD(controller.parameters(), lr=0.05)
    for _ in range(20):
        loss, _ = ctl.reinforce_loss(controller, decisions, torch.zeros(4), entropy_weight=1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _, _, after = controller(decisions)
    assert after.mean() > before.mean()


# ------------------------------------------------------------------ the strategy


def test_registered_and_parsed():
    assert STRATEGIES["reinforce"] is Reinforce
    assert isinstance(make_strategy("reinforce"), Reinforce)
    with pytest.raises(RlnasError, match="takes no argument"):
        make_strategy("reinforce:ray")


@pytest.mark.parametrize("budget", [1, 7, 23, 101])
def test_spends_exactly_the_budget_and_never_queries_when_exhausted(nb201, budget):
    strategy = Reinforce(config=CONFIG)
    result = run_search(strategy, nb201, budget, np.random.default_rng(budget))
    assert len(result.history) == budget == len({e.hash for e in result.history})
    assert result.stop_reason == "budget"
    assert all(s["queries"] <= budget for s in strategy.stats)


def test_same_seed_same_history(nb201):
    def run(seed):
        strategy = Reinforce(config=CONFIG)
        history = strategy.run(nb201, 80, np.random.default_rng(seed))
        return [(e.hash, e.score) for e in history], strategy.stats

    first, second, other = run(11), run(11), run(12)
    assert first == second
    assert first[0] != other[0]


def test_controller_learns_on_nb201(nb201):
    strategy = Reinforce(config=ReinforceConfig(hidden_size=32, learning_rate=0.01))
    strategy.run(nb201, 300, np.random.default_rng(13))
    rewards = [s["mean_reward"] for s in strategy.stats]
    assert np.mean(rewards[-10:]) > np.mean(rewards[:10])


def test_revisits_are_free_and_a_collapsed_controller_heats_up(nb201):
    # A huge learning rate collapses the policy onto a few cells; the temperature guard still
    # finds new ones, so the run ends with the full budget.
    strategy = Reinforce(config=ReinforceConfig(hidden_size=16, learning_rate=0.5, stale_patience=2))
    history = strategy.run(nb201, 150, np.random.default_rng(14))
    assert len(history) == 150
    assert sum(s["draws"] for s in strategy.stats) > 150  # duplicates were drawn, rewarded, not counted
    assert max(s["temperature"] for s in strategy.stats) > 1


def test_searches_nb301_distilled_within_budget_and_deterministically():
    from rlnas.benchmarks.nb301 import NB301DistilledBenchmark

    benchmark = NB301DistilledBenchmark()

    def run(seed):
        strategy = Reinforce(config=CONFIG)
        result = run_search(strategy, benchmark, 35, np.random.default_rng(seed))
        assert result.stop_reason == "budget" and len(result.history) == 35
        assert len({DARTS_SPACE.identity(e.cell) for e in result.history}) == 35
        assert len(strategy.stats) >= 3 and all(s["invalid"] == 0 for s in strategy.stats)
        return [(e.hash, e.score) for e in result.history], strategy.stats

    first, second, other = run(16), run(16), run(17)
    assert first == second
    assert first[0] != other[0]


def test_compare_runs_reinforce_beside_the_baselines(tmp_path):
    config = CompareConfig("nb201-cifar10", ("reinforce", "rs"), budget=20, runs=2, seed=0)
    summary = run_comparison(config, tmp_path, workers=2)
    assert set(summary["strategies"]) == {"reinforce", "rs"}
    assert (tmp_path / "runs" / "reinforce-0001.csv").exists()


def test_ray_executor_evaluates_the_same_batches_as_in_process(nb201):
    import ray  # noqa: F401  (CI installs the `ray` extra: a missing Ray is a failure, not a skip)

    # A batch is asked for all at once, so on Ray its cells are evaluated in parallel and told in
    # the order they finish; the update does not depend on that order, so the run is the same.
    local = Reinforce(config=CONFIG).run(nb201, 30, np.random.default_rng(15))
    remote = run_search(Reinforce(config=CONFIG), nb201, 30, np.random.default_rng(15), executor=RayExecutor(2))
    assert sorted((e.hash, e.score) for e in remote.history) == sorted((e.hash, e.score) for e in local)


def test_nb201_decoded_string_matches_decisions():
    controller = fresh(NB201_SPACE)
    assert nb201_cell_to_string(controller.decode([0, 0, 0, 3, 0, 0])) == "000300"


def test_a_run_is_the_same_whatever_the_callers_torch_threads(nb201):
    """The controller's work runs on one torch thread, so a seed gives one search on any machine."""

    def searched(threads: int) -> list:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            result = run_search(Reinforce(ReinforceConfig(batch_size=5)), nb201, 60, 3)
            assert torch.get_num_threads() == threads  # the caller's count, restored
        finally:
            torch.set_num_threads(previous)
        return [e.cell for e in result.history]

    assert searched(1) == searched(2)
