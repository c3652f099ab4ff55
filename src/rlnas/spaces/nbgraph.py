"""The NAS-Bench-Graph space (Qin et al. 2022): four GNN layers, each reading one earlier node.

An architecture is `link` and `ops`, as in the `nas-bench-graph` package: computing node i
(1..4) applies `ops[i-1]` to node `link[i-1]` < i, node 0 being the raw node features; every node
that no other node reads (a leaf) is concatenated into the output, followed by a linear layer.
The ops already sit on the nodes, so the cell is the graph itself: vertex 0 the input, vertices
1..4 the computing nodes in the package's order, vertex 5 the output, an edge link[i-1] -> i for
each node and an edge from every leaf to the output. The conversion is lossless both ways.

The package counts architectures up to its own equivalence, `Arch.valid_hash`: isomorphic graphs
(siblings in another order) and placements of `skip` layers that it treats as the same network
(a skip moved to the front of the chain it starts, a skip leaf reading the input). It never splits
an isomorphism class, and its 26,206 classes (2,021 with the proteins ops) are exactly the table's
entries; docs/benchmarks.md has the counts. This space's cells are those classes: `validate` maps
any form to the class's canonical cell (the table entry, decoded), much as pruning maps an NB101
cell to the cell it computes, and `identity` is the package's table key. The all-skip
architectures have no entry and are outside the space.

Edits, laid out like `NB201Space`'s op-change block and then the input changes:

    op change       (node i, op o)          4 * num_ops         index (i - 1) * num_ops + o
    input change    (node i, input j < i)   1 + 2 + 3 + 4       index 4 * num_ops + i(i-1)/2 + j

An edit whose result is the same class, or all-skip, is not applicable (masked).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.metadata import version

import numpy as np

from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.data import cache_dir
from rlnas.errors import DataError, InvalidCellError
from rlnas.files import atomic_path
from rlnas.spaces.base import Choices, chosen_values, uniform_neighbour
from rlnas.spaces.layout import NONE, OP_CHANGE, SOURCE_CHANGE, Edit, EditLayout

#: The package's op list (`nas_bench_graph.architecture.gnn_list`); its table keys index into it.
NBGRAPH_OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: The ops the ogbn-proteins table was trained with (`gnn_list_proteins`).
NBGRAPH_PROTEINS_OPS = ("gcn", "sage", "arma", "fc", "skip")
NUM_NODES = 4
_ALL_LINKS = tuple(itertools.product(*(range(i + 1) for i in range(NUM_NODES))))


def arch_to_cell(link: tuple[int, ...], ops: tuple[int, ...]) -> Cell:
    """The cell of (link, op labels): vertex i reads vertex link[i-1]; leaves feed the output."""
    out = NUM_NODES + 1
    rows = [0] * (NUM_NODES + 2)
    for i, source in enumerate(link, start=1):
        rows[source] |= 1 << i
    for i in range(1, out):
        if rows[i] == 0:
            rows[i] = 1 << out
    return Cell(tuple(rows), (INPUT, *ops, OUTPUT))


def cell_to_arch(cell: Cell, num_ops: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(link, op labels) of a cell in the space's form; InvalidCellError says what is wrong."""
    n, out = len(cell.rows), NUM_NODES + 1
    if n != NUM_NODES + 2:
        raise InvalidCellError(f"a NAS-Bench-Graph cell has {NUM_NODES} nodes between input and output, not {n - 2}")
    if cell.ops[0] != INPUT or cell.ops[-1] != OUTPUT:
        raise InvalidCellError("the first vertex must be the input and the last the output")
    link = []
    for i in range(1, out):
        if not 0 <= cell.ops[i] < num_ops:
            raise InvalidCellError(f"node {i} has op label {cell.ops[i]}; this space's ops are 0..{num_ops - 1}")
        sources = [u for u in range(i) if cell.rows[u] >> i & 1]
        if len(sources) != 1:
            raise InvalidCellError(f"node {i} reads {len(sources)} nodes; each NAS-Bench-Graph node reads exactly one")
        link.append(sources[0])
        read = cell.rows[i] & ~(1 << out)
        if (cell.rows[i] >> out & 1) == bool(read):
            raise InvalidCellError(f"node {i} must feed the output exactly when no other node reads it")
    if cell.rows[0] >> out & 1:
        raise InvalidCellError("the input cannot feed the output directly; leaves of the nodes do")
    return tuple(link), tuple(cell.ops[1:out])


@dataclass(frozen=True)
class _Classes:
    """The package's classes for one op set: canonical (link, ops), table keys, and the class of every form."""

    archs: list[tuple[tuple[int, ...], tuple[int, ...]]]  # canonical forms, in table-key order
    keys: np.ndarray  # int64, ascending: the package's table key of each class
    class_of_form: np.ndarray  # int32 over _form_code: class index, -1 for all-skip


@cache
def _classes(op_names: tuple[str, ...]) -> _Classes:
    """The package's classes for an op set, from its own canonicalisation of every form."""
    try:
        from nas_bench_graph.architecture import gnn_list, link_list
    except ImportError as exc:
        raise DataError("NAS-Bench-Graph needs the nas-bench-graph package: pip install nas-bench-graph") from exc
    if tuple(gnn_list) != NBGRAPH_OPS:
        raise DataError(f"nas-bench-graph lists the ops {gnn_list}, not {list(NBGRAPH_OPS)}; install version 1.4")
    key_of_form = _key_of_every_form(op_names)
    skip = op_names.index("skip")
    all_skip = key_of_form[_form_code((0, 1, 2, 3), (skip,) * NUM_NODES, len(op_names))]
    keys = np.unique(key_of_form[key_of_form != all_skip])
    class_of_form = np.where(key_of_form == all_skip, -1, np.searchsorted(keys, key_of_form)).astype(np.int32)
    base = len(NBGRAPH_OPS) + 1  # table keys: the link_list index, then one base-10 digit per op
    archs = []
    for key in keys.tolist():
        digits = [key // base**p % base for p in range(NUM_NODES - 1, -1, -1)]
        link = tuple(link_list[key // base**NUM_NODES])
        archs.append((link, tuple(op_names.index(NBGRAPH_OPS[d]) for d in digits)))
    return _Classes(archs, keys, class_of_form)


def _key_of_every_form(op_names: tuple[str, ...]) -> np.ndarray:
    """`Arch.valid_hash` of every (link, ops) form: seconds of work, so kept in the cache folder."""
    from nas_bench_graph.architecture import Arch

    num_forms = len(_ALL_LINKS) * len(op_names) ** NUM_NODES
    tag = hashlib.md5(f"{version('nas-bench-graph')} {op_names}".encode()).hexdigest()[:12]
    path = cache_dir() / f"nbgraph-forms-{tag}.npy"
    try:
        keys = np.load(path)
        if keys.shape == (num_forms,) and keys.dtype == np.int64:
            return keys
    except (OSError, ValueError, EOFError):
        pass  # absent or damaged: rebuild it
    keys = np.empty(num_forms, dtype=np.int64)
    forms = itertools.product(_ALL_LINKS, itertools.product(op_names, repeat=NUM_NODES))
    for code, (link, ops) in enumerate(forms):
        keys[code] = Arch(list(link), list(ops)).valid_hash()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, keys)
    except OSError:
        pass  # a read-only cache folder only costs the rebuild next time
    return keys


def _form_code(link: tuple[int, ...], ops: tuple[int, ...], num_ops: int) -> int:
    """Index of a (link, ops) form in the enumeration order of `_classes`."""
    link_code = _ALL_LINKS.index(link)
    op_code = 0
    for o in ops:
        op_code = op_code * num_ops + o
    return link_code * num_ops**NUM_NODES + op_code


@dataclass(frozen=True)
class NBGraphSpace:
    name: str
    op_names: tuple[str, ...]
    max_vertices: int = NUM_NODES + 2

    @cached_property
    def edit_layout(self) -> EditLayout:
        """The layout of the module doc: op changes (node i, op o), then input changes (node i reads j < i)."""
        nodes, num_ops = range(1, NUM_NODES + 1), len(self.op_names)
        edits = (
            *(Edit(OP_CHANGE, 0, i, NONE, o) for i in nodes for o in range(num_ops)),
            *(Edit(SOURCE_CHANGE, 0, i, j) for i in nodes for j in range(i)),
        )
        return EditLayout(edits, num_cells=1, max_vertices=self.max_vertices, num_ops=num_ops)

    @property
    def num_edits(self) -> int:
        return len(self.edit_layout)

    @property
    def num_cells(self) -> int:
        return len(_classes(self.op_names).archs)

    # ------------------------------------------------------------ classes
    def class_index(self, cell: Cell) -> int:
        """The index of the cell's package class (its row in the table); InvalidCellError outside the space."""
        link, ops = cell_to_arch(cell, len(self.op_names))
        index = int(_classes(self.op_names).class_of_form[_form_code(link, ops, len(self.op_names))])
        if index < 0:
            raise InvalidCellError("every node is skip; NAS-Bench-Graph has no such architecture, give one a GNN op")
        return index

    def cell_of_class(self, index: int) -> Cell:
        return arch_to_cell(*_classes(self.op_names).archs[index])

    def table_keys(self) -> np.ndarray:
        """The package's table key of every class, ascending (the order of `class_index`)."""
        return _classes(self.op_names).keys

    def validate(self, cell: Cell) -> Cell:
        """The canonical cell of the cell's class (the table entry it is looked up under)."""
        return self.cell_of_class(self.class_index(cell))

    def identity(self, cell: Cell) -> int:
        """The package's table key: equal exactly for the forms the package counts as one architecture."""
        return int(_classes(self.op_names).keys[self.class_index(cell)])

    def sample(self, rng: np.random.Generator) -> Cell:
        """Uniform over the architectures (the package's classes), as a draw from the table would be."""
        return self.cell_of_class(int(rng.integers(self.num_cells)))

    # ------------------------------------------------------------ categorical encoding
    def choices(self) -> Choices:
        """The package's own form: per node i (1..4) the node it reads (`input_<i>`, 0..i-1) and its op
        (`op_<i>`, by name). Several forms are one architecture (`validate` canonicalises them)."""
        return [
            choice
            for i in range(1, NUM_NODES + 1)
            for choice in ((f"input_{i}", tuple(range(i))), (f"op_{i}", self.op_names))
        ]

    def from_choices(self, chosen: Mapping[str, int | str]) -> Cell:
        """The canonical cell of the form; InvalidCellError for the all-skip architectures (not in the table)."""
        values = chosen_values(self, chosen)
        link = tuple(int(j) for j in values[0::2])
        return self.validate(arch_to_cell(link, tuple(self.op_names.index(name) for name in values[1::2])))

    def to_choices(self, cell: Cell) -> dict[str, int | str]:
        """A form of the cell's architecture: `from_choices` of it gives the cell back (canonical)."""
        link, ops = cell_to_arch(cell, len(self.op_names))
        chosen: dict[str, int | str] = {}
        for i in range(1, NUM_NODES + 1):
            chosen[f"input_{i}"] = link[i - 1]
            chosen[f"op_{i}"] = self.op_names[ops[i - 1]]
        return chosen

    # ------------------------------------------------------------ neighbourhood
    def edits(self, cell: Cell) -> Iterator[tuple[int, Cell]]:
        num_ops = len(self.op_names)
        classes = _classes(self.op_names)
        link, ops = cell_to_arch(cell, num_ops)
        here = classes.class_of_form[_form_code(link, ops, num_ops)]
        index = self.edit_layout.index
        candidates = [
            (index[OP_CHANGE, 0, i, NONE, o], link, (*ops[: i - 1], o, *ops[i:]))
            for i in range(1, NUM_NODES + 1)
            for o in range(num_ops)
            if o != ops[i - 1]
        ]
        candidates += [
            (index[SOURCE_CHANGE, 0, i, j, NONE], (*link[: i - 1], j, *link[i:]), ops)
            for i in range(1, NUM_NODES + 1)
            for j in range(i)
            if j != link[i - 1]
        ]
        for index, new_link, new_ops in candidates:
            target = classes.class_of_form[_form_code(new_link, new_ops, num_ops)]
            if target >= 0 and target != here:
                yield index, arch_to_cell(*classes.archs[target])

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Every other architecture one op change or one input change away, each once."""
        seen: dict[tuple, Cell] = {}
        for _, neighbour in self.edits(cell):
            seen.setdefault((neighbour.rows, neighbour.ops), neighbour)
        return list(seen.values())

    def mutate(self, cell: Cell, rng: np.random.Generator) -> Cell:
        return uniform_neighbour(self, cell, rng)

    # ------------------------------------------------------------ text forms
    def cell_from_names(self, matrix: list[list[int]], op_names: list[str]) -> Cell:
        labels = [
            {"input": INPUT, "output": OUTPUT}.get(name, self._op_label(name, k)) for k, name in enumerate(op_names)
        ]
        return self.validate(Cell.from_matrix(matrix, labels))

    def _op_label(self, name: str, position: int) -> int:
        if name not in self.op_names:
            raise InvalidCellError(f"unknown op {name!r} at {position}; {self.name} ops are {', '.join(self.op_names)}")
        return self.op_names.index(name)

    def describe(self, cell: Cell) -> dict:
        """The package's own terms: `Arch(link, ops)` looks this architecture up in its table."""
        link, ops = cell_to_arch(self.validate(cell), len(self.op_names))
        return {"link": list(link), "ops": [self.op_names[o] for o in ops]}

    def to_text(self, cell: Cell) -> str:
        """`{"link": [...], "ops": [...]}` of the canonical form (what `rlnas query` prints as arch)."""
        return json.dumps(self.describe(cell))

    def from_text(self, text: str) -> Cell:
        """Parse `to_text`'s form (any form of the architecture: it is canonicalised)."""
        try:
            data = json.loads(text)
            link, names = data["link"], data["ops"]
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise InvalidCellError(
                f'{self.name} archs are JSON {{"link": [0, 1, 1, 2], "ops": [...]}}, not {text[:60]!r}'
            ) from exc
        if not (isinstance(link, list) and isinstance(names, list) and len(link) == len(names) == NUM_NODES):
            raise InvalidCellError(f"{self.name} archs have {NUM_NODES} links and {NUM_NODES} ops")
        if not all(isinstance(j, int) and 0 <= j <= i for i, j in enumerate(link)):
            raise InvalidCellError(f"link {link}: node i (from 0) reads an earlier node, 0..i (0 is the input)")
        return self.validate(arch_to_cell(tuple(link), tuple(self._op_label(n, k) for k, n in enumerate(names))))


NBGRAPH_SPACE = NBGraphSpace("nbgraph", NBGRAPH_OPS)
NBGRAPH_PROTEINS_SPACE = NBGraphSpace("nbgraph-proteins", NBGRAPH_PROTEINS_OPS)
