"""One representation for every search space: a DAG with an operation on each vertex.

A cell is stored as bitmask rows (`rows[i]` has bit j set when there is an edge i -> j) and a
tuple of integer op labels. The first vertices are the inputs (one in NB101/NB201, labelled
INPUT; two in DARTS, labelled INPUT and INPUT2 so that the two previous cells stay distinct),
the last vertex is the output, and every edge goes from a lower to a higher index (an
upper-triangular adjacency matrix). The bitmask form
keeps pruning, neighbour generation and hashing in cheap integer arithmetic, because these run
on every environment step and every benchmark query.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from rlnas.errors import InvalidCellError

#: Labels of the special vertices; non-negative labels index a space's op list.
INPUT, OUTPUT, SUM, INPUT2 = -1, -2, -3, -4
#: The labels of the first, second, ... input vertex, in order.
INPUTS = (INPUT, INPUT2)


def iter_bits(mask: int):
    """Yield the indices of the set bits of `mask`, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


_SMALL_MASKS = 1 << 12
_BITS_OF_SMALL_MASK = [tuple(iter_bits(m)) for m in range(_SMALL_MASKS)]


def bits(mask: int) -> tuple[int, ...]:
    """The set bits of `mask` as a tuple; a table lookup for cells of up to 12 vertices."""
    return _BITS_OF_SMALL_MASK[mask] if mask < _SMALL_MASKS else tuple(iter_bits(mask))


class Cell:
    """An immutable ops-on-nodes DAG; equality is on the exact labelled graph, not isomorphism.

    Use `key` (or `module_hash()`) to compare cells up to isomorphism.
    """

    __slots__ = ("_key", "ops", "rows")

    def __init__(self, rows: tuple[int, ...], ops: tuple[int, ...]):
        self.rows = rows
        self.ops = ops
        self._key: int | None = None

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_matrix(cls, matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[int]) -> Cell:
        """Build a cell from a 0/1 adjacency matrix and one op label per vertex, checking its form."""
        try:
            m = np.asarray(matrix)
        except ValueError as exc:
            raise InvalidCellError("the adjacency matrix has rows of different lengths; give a square matrix") from exc
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise InvalidCellError(f"the adjacency matrix must be square, got shape {m.shape}")
        n = m.shape[0]
        if n < 2:
            raise InvalidCellError("a cell needs at least an input and an output vertex")
        if not np.isin(m, (0, 1)).all():
            raise InvalidCellError("the adjacency matrix may hold only 0 and 1")
        if np.tril(m).any():
            i, j = (int(x) for x in np.argwhere(np.tril(m))[0])
            raise InvalidCellError(
                f"the adjacency matrix must be strictly upper-triangular (edges go from lower to higher "
                f"vertex), but it has an edge {i}->{j}; order the vertices topologically"
            )
        if len(ops) != n:
            raise InvalidCellError(f"{len(ops)} op labels for {n} vertices; give exactly one op per vertex")
        labels = tuple(int(o) for o in ops)
        if labels[0] != INPUT or labels[-1] != OUTPUT:
            raise InvalidCellError("the first vertex must be the input and the last the output")
        k = _count_inputs(labels)
        if INPUT2 in labels[k:]:
            raise InvalidCellError(f"vertex {labels.index(INPUT2, k)} is an input; inputs come first, in order")
        if m[:, :k].any():
            raise InvalidCellError("an input vertex has an incoming edge; inputs only feed other vertices")
        rows = tuple(int(sum(1 << j for j in np.flatnonzero(m[i]))) for i in range(n))
        return cls(rows, labels)

    @classmethod
    def from_json(cls, obj: dict | str) -> Cell:
        """Inverse of `to_json` (a dict or its JSON text); the form is checked as in `from_matrix`."""
        data = json.loads(obj) if isinstance(obj, str) else obj
        try:
            rows, ops = [int(r) for r in data["rows"]], data["ops"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidCellError(f"a cell in JSON is {{'rows': [...], 'ops': [...]}}, not {obj!r:.80}") from exc
        n = len(rows)
        if any(not 0 <= r < 1 << n for r in rows):
            raise InvalidCellError(f"cell rows must be bitmasks of {n} vertices")
        return cls.from_matrix([[r >> j & 1 for j in range(n)] for r in rows], ops)

    def to_json(self) -> dict:
        """A JSON-ready, lossless form: the bitmask rows and the op labels."""
        return {"rows": list(self.rows), "ops": list(self.ops)}

    @property
    def matrix(self) -> np.ndarray:
        n = len(self.rows)
        m = np.zeros((n, n), dtype=np.int8)
        for i, row in enumerate(self.rows):
            m[i, list(bits(row))] = 1
        return m

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(row.bit_count() for row in self.rows)

    @property
    def num_inputs(self) -> int:
        return _count_inputs(self.ops)

    # ---------------------------------------------------------------- pruning
    def prune(self) -> Cell | None:
        """Drop every vertex that is not on a path from an input to the output; None if there is no such path.

        As in NAS-Bench-101, such vertices cannot change what the cell computes, so the pruned cell
        is the one that is hashed, counted and evaluated. Input vertices always stay (they are the
        cell's interface: an unused previous cell is still an input, without edges).
        """
        rows, n = self.rows, len(self.rows)
        inputs = (1 << _count_inputs(self.ops)) - 1
        reach = inputs  # vertices reachable from an input; one pass suffices in topological order
        for i in range(n):
            if reach >> i & 1:
                reach |= rows[i]
        last = 1 << (n - 1)
        if not reach & last:
            return None
        coreach = last  # vertices from which the output is reachable
        for i in range(n - 2, -1, -1):
            if rows[i] & coreach:
                coreach |= 1 << i
        keep = (reach & coreach) | inputs
        if keep == (1 << n) - 1:
            return self
        kept = bits(keep)
        new_index = {old: new for new, old in enumerate(kept)}
        new_rows = tuple(sum(1 << new_index[j] for j in bits(rows[i] & keep)) for i in kept)
        return Cell(new_rows, tuple(self.ops[i] for i in kept))

    # ---------------------------------------------------------------- hashing
    @property
    def key(self) -> int:
        """A 64-bit isomorphism-invariant fingerprint, several times cheaper than `module_hash`.

        Each vertex gets the hash of its ancestors' labelled unfolding (one forward pass in
        topological order) and of its descendants' (one backward pass); the key hashes the sorted
        vertex values together with the sorted edges, each labelled by its two end vertices. Isomorphic
        cells get equal keys by construction; the inputs carry distinct labels, so they are never
        permuted. Only Python's hash of ints and tuples is used, which
        does not depend on PYTHONHASHSEED. All 423,624 NB101 classes get distinct keys (checked by
        the tests and whenever the NB101 cache is built). The key is of this graph as it is: prune a
        cell first (`prune()`) to key the architecture, since vertices off every input-output path
        change the key but not the network.
        """
        if self._key is None:
            self._key = _dag_key(self.rows, self.ops)
        return self._key

    def module_hash(self) -> str:
        """The NAS-Bench-101 module hash (hex MD5) of this cell as it stands; prune first."""
        return module_hash(self.rows, self.ops)

    # ---------------------------------------------------------------- dunder
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and self.rows == other.rows and self.ops == other.ops

    def __hash__(self) -> int:
        return hash((self.rows, self.ops))

    def __repr__(self) -> str:
        return f"Cell(matrix={self.matrix.tolist()}, ops={list(self.ops)})"


def _count_inputs(ops: tuple[int, ...]) -> int:
    k = 0
    while k < len(INPUTS) and k < len(ops) and ops[k] == INPUTS[k]:
        k += 1
    return k


def _dag_key(rows: tuple[int, ...], ops: tuple[int, ...]) -> int:
    n = len(rows)
    outs = [bits(row) for row in rows]
    ins: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in outs[i]:
            ins[j].append(i)
    down = list(ops)  # the labelled unfolding of each vertex's ancestors (an input's is its label)
    for v in range(1, n):
        pred = ins[v]
        if pred:
            down[v] = (
                hash((ops[v], down[pred[0]])) if len(pred) == 1 else hash((ops[v], *sorted([down[w] for w in pred])))
            )
    up = list(ops)  # ... and of its descendants (an unused input's is its label)
    for v in range(n - 2, -1, -1):
        succ = outs[v]
        if succ:
            up[v] = hash((ops[v], up[succ[0]])) if len(succ) == 1 else hash((ops[v], *sorted([up[w] for w in succ])))
    both = [hash(pair) for pair in zip(down, up, strict=True)]
    edges = sorted([both[i] * 1_000_003 ^ both[j] for i in range(n) for j in outs[i]])
    return hash((*sorted(both), *edges))


def module_hash(rows: tuple[int, ...], labels: tuple[int, ...]) -> str:
    """NAS-Bench-101's iterated neighbourhood hash, as published with the benchmark.

    Every vertex starts as md5 of str((out_degree, in_degree, label)); then, once per vertex,
    each vertex becomes md5 of its sorted in-neighbour hashes, '|', its sorted out-neighbour
    hashes, '|', its own hash; the cell is md5 of str() of the sorted vertex hashes.
    """
    n = len(rows)
    outs = [bits(row) for row in rows]
    ins: list[list[int]] = [[] for _ in range(n)]
    for i, out in enumerate(outs):
        for j in out:
            ins[j].append(i)
    md5 = hashlib.md5
    hashes = [md5(str((len(outs[v]), len(ins[v]), labels[v])).encode()).hexdigest() for v in range(n)]
    for _ in range(n):
        hashes = [
            md5(
                (
                    "".join(sorted([hashes[w] for w in ins[v]]))
                    + "|"
                    + "".join(sorted([hashes[w] for w in outs[v]]))
                    + "|"
                    + hashes[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return md5(str(sorted(hashes)).encode()).hexdigest()
