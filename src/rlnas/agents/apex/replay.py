"""Prioritized experience replay (Schaul et al. 2016) on a sum tree that works on whole batches.

The sum tree is a flat array: leaves at [capacity, 2 * capacity), node k holds the sum of nodes
2k and 2k + 1, the root is node 1. Updating a batch of leaves recomputes their ancestors level by
level (from the children, so repeated indices in a batch are harmless); sampling descends all the
batch's queries at once. Both cost O(batch * log capacity) numpy operations.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("a sum tree needs a capacity of at least 1")
        self.capacity = capacity
        self.leaf_base = 1 << max(0, (capacity - 1).bit_length())  # a power of two >= capacity
        self.depth = self.leaf_base.bit_length() - 1
        self.nodes = np.zeros(2 * self.leaf_base, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        return self.nodes[self.leaf_base + np.asarray(indices, dtype=np.int64)]

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set the leaves `indices` to `values` (for a repeated index, the last value wins)."""
        indices = np.asarray(indices, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if indices.size == 0:
            return
        if np.any(values < 0) or not np.all(np.isfinite(values)):
            raise ValueError("priorities must be finite and non-negative")
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"sum tree index out of range 0..{self.capacity - 1}")
        nodes = self.leaf_base + indices
        self.nodes[nodes] = values
        for _ in range(self.depth):
            nodes = np.unique(nodes >> 1)
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def find(self, mass: np.ndarray) -> np.ndarray:
        """For each query in [0, total), the leaf whose cumulative-sum interval holds it."""
        mass = np.array(mass, dtype=np.float64)
        nodes = np.ones(mass.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sum = self.nodes[left]
            # go right only where the right subtree has mass (guards against rounding at the edges)
            right = (mass >= left_sum) & (self.nodes[left + 1] > 0)
            mass = np.where(right, mass - left_sum, mass)
            nodes = left + right
        return nodes - self.leaf_base

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Leaves drawn with probability proportional to their value, stratified over [0, total)."""
        total = self.total
        if total <= 0:
            raise ValueError("cannot sample from a sum tree whose priorities are all zero")
        bounds = np.arange(batch_size, dtype=np.float64) + rng.random(batch_size)
        return self.find(np.minimum(bounds * (total / batch_size), np.nextafter(total, 0)))


class PrioritizedReplay:
    """A ring buffer of n-step transitions, each a row of named arrays, sampled by priority ** alpha."""

    def __init__(self, capacity: int, alpha: float, epsilon: float, layout: dict[str, tuple[tuple, np.dtype]]):
        self.capacity = capacity
        self.alpha = alpha
        self.epsilon = epsilon
        self.layout = layout
        self.storage = {k: np.zeros((capacity, *shape), dtype=dtype) for k, (shape, dtype) in layout.items()}
        self.tree = SumTree(capacity)
        self.position = 0  # next row to write
        self.size = 0
        self.added = 0  # transitions ever added

    def __len__(self) -> int:
        return self.size

    def _leaf_values(self, priorities: np.ndarray) -> np.ndarray:
        return (np.abs(np.asarray(priorities, dtype=np.float64)) + self.epsilon) ** self.alpha

    def add(self, batch: dict[str, np.ndarray], priorities: np.ndarray) -> np.ndarray:
        """Store a batch of transitions with their initial priorities (|TD errors|); return their rows."""
        count = len(priorities)
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        if count > self.capacity:  # only the newest fit
            batch = {k: v[-self.capacity :] for k, v in batch.items()}
            priorities = priorities[-self.capacity :]
            self.added += count - self.capacity
            count = self.capacity
        rows = (self.position + np.arange(count)) % self.capacity
        for key, array in self.storage.items():
            array[rows] = batch[key]
        self.tree.update(rows, self._leaf_values(priorities))
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.capacity, self.size + count)
        self.added += count
        return rows

    def sample(self, batch_size: int, beta: float, rng: np.random.Generator):
        """(rows, importance weights normalised by the batch maximum, the transitions)."""
        rows = self.tree.sample(batch_size, rng)
        probabilities = self.tree.get(rows) / self.tree.total
        weights = (self.size * probabilities) ** (-beta)
        weights = (weights / weights.max()).astype(np.float32)
        return rows, weights, {k: v[rows] for k, v in self.storage.items()}

    def update_priorities(self, rows: np.ndarray, priorities: np.ndarray) -> None:
        self.tree.update(rows, self._leaf_values(priorities))

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "size": self.size,
            "position": self.position,
            "added": self.added,
            "storage": {k: v[: self.size].copy() for k, v in self.storage.items()},
            "leaves": self.tree.get(np.arange(self.size)).copy(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"replay capacity {state['capacity']} in the checkpoint, {self.capacity} configured")
        size = state["size"]
        for key, array in self.storage.items():
            array[:] = 0
            array[:size] = state["storage"][key]
        self.tree = SumTree(self.capacity)
        self.tree.update(np.arange(size), state["leaves"])
        self.size, self.position, self.added = size, state["position"], state["added"]
