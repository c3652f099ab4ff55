"""The DARTS search space (NAS-Bench-301): a normal and a reduction cell, as ops-on-nodes cells.

A DARTS cell has two input nodes (0: the cell before the previous one, c_{k-2}; 1: the previous
one, c_{k-1}), four intermediate nodes 2..5, each the sum of two incoming edges from two distinct
earlier nodes, each edge carrying one of seven ops, and an output that concatenates nodes 2..5.
Natively a cell is 8 (source, op) pairs, two per intermediate node (NASLib's compact form).
As an ops-on-nodes cell (`rlnas.cells.edges_to_nodes`, the paper's Figure 1) every edge becomes
an op vertex and every intermediate node a sum vertex feeding the output: 2 inputs + 8 op
vertices + 4 sum vertices + 1 output = 15 vertices. An architecture is `Arch((normal, reduce))`.

What counts as the same architecture:
- the two incoming edges of a node are unordered: (a, op1), (b, op2) and (b, op2), (a, op1) are
  one node (a node computes the sum of its two edges);
- the two edges of a node come from distinct sources, as in DARTS' genotype derivation (the two
  strongest distinct predecessors) and NAS-Bench-301's ConfigSpace (`inputs_node_normal_3` is one
  of '0_1', '0_2', '1_2');
- the two inputs are distinct (c_{k-2} is not c_{k-1}) and the two cells play distinct roles;
- `identity` (the canonical form) also merges cells that differ only by a renumbering of the
  intermediate nodes, i.e. isomorphic graphs: the output concatenates all four nodes, and the
  order of a concatenation is absorbed by the next cell's 1x1 preprocessing convolution.
  `count_archs(canonical=False)` counts genotypes without that merge (what DARTS, NASLib and
  NAS-Bench-301 enumerate), `count_archs(canonical=True)` counts isomorphism classes.

The neighbour rules, in the space's fixed edit layout (per cell, normal first, then reduce):

    op change       (edge e, op o)          8 * num_ops
    source change   (edge e, source s)      8 * 5: the edge keeps its op and comes from node s
                                            (s below its node, not a source the node already has)

where edge e = 2 * (node - 2) + slot and the slots of a node are its two edges ordered by source.
They are the DESIGN's rules where they stay inside the space: an op change is "change the op of a
vertex"; every node keeps exactly two in-edges, so "remove an edge" and "add an edge" only stay in
the space together, as a source change; the number of nodes is fixed, so inserting or removing a
vertex always leaves the space (masked, and left out of the layout).
"""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, cached_property, lru_cache

import numpy as np

from rlnas.cells import INPUT, INPUT2, OUTPUT, SUM, Arch, Cell
from rlnas.cells.cell import bits
from rlnas.errors import InvalidCellError
from rlnas.spaces.base import Choices, chosen_values, distinct_neighbours, uniform_neighbour
from rlnas.spaces.layout import NONE, OP_CHANGE, SOURCE_CHANGE, Edit, EditLayout

DARTS_OPS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
CELL_TYPES = ("normal", "reduce")
NODES = (2, 3, 4, 5)
NUM_EDGES = 2 * len(NODES)
#: The most sources an edge can come from (node 5 has 0..4), the width of the source-change block.
MAX_SOURCES = NODES[-1]
#: A cell in native form: 8 (source, op) pairs, two per node 2..5, each node's pair ordered by source.
Pairs = tuple[tuple[int, int], ...]
#: Sources of each node's two edges, ordered: the cell's wiring without its ops.
Wiring = tuple[tuple[int, int], ...]


# ---------------------------------------------------------------- native form <-> cells
def normalize_pairs(pairs: Sequence[Sequence[int]], num_ops: int | None = len(DARTS_OPS)) -> Pairs:
    """Check 8 (source, op) pairs and order each node's two by source; raise InvalidCellError if outside the space."""
    if len(pairs) != NUM_EDGES:
        raise InvalidCellError(f"a DARTS cell has {NUM_EDGES} (source, op) pairs, two per node 2..5, not {len(pairs)}")
    out: list[tuple[int, int]] = []
    for i, node in enumerate(NODES):
        two = []
        for pair in pairs[2 * i : 2 * i + 2]:
            if len(pair) != 2 or not all(isinstance(x, int | np.integer) for x in pair):
                raise InvalidCellError(f"{pair!r} is not a (source, op) pair of integers")
            src, op = int(pair[0]), int(pair[1])
            if not 0 <= src < node:
                raise InvalidCellError(f"node {node} has an edge from {src}; its sources are nodes 0..{node - 1}")
            if op < 0 or (num_ops is not None and op >= num_ops):
                raise InvalidCellError(f"op index {op} on an edge into node {node}; ops are 0..{num_ops - 1}")
            two.append((src, op))
        if two[0][0] == two[1][0]:
            raise InvalidCellError(f"both edges into node {node} come from node {two[0][0]}; they need two sources")
        out.extend(sorted(two))
    return tuple(out)


#: Vertex of each node in the converted layout (inputs 0 and 1, then per node two op vertices and its sum vertex).
_NODE_VERTEX = (0, 1, *(4 + 3 * i for i in range(len(NODES))))
_OUTPUT_VERTEX = 3 * len(NODES) + 2
_OPS_OF_LAYOUT = (INPUT, INPUT2, *(SUM if v % 3 == 1 else None for v in range(2, _OUTPUT_VERTEX)), OUTPUT)


def _edge_vertex(e: int) -> int:
    """The op vertex of edge e (= 2 * (node - 2) + slot) in the converted layout."""
    return 2 + 3 * (e // 2) + (e & 1)


def pairs_to_cell(pairs: Pairs) -> Cell:
    """The ops-on-nodes cell of normalized pairs: `edges_to_nodes` of the DARTS edge cell, built directly."""
    rows = [0] * (_OUTPUT_VERTEX + 1)
    ops = list(_OPS_OF_LAYOUT)
    for e, (src, op) in enumerate(pairs):
        vertex, node_vertex = _edge_vertex(e), _NODE_VERTEX[2 + e // 2]
        rows[_NODE_VERTEX[src]] |= 1 << vertex
        rows[vertex] = 1 << node_vertex
        rows[node_vertex] = 1 << _OUTPUT_VERTEX
        ops[vertex] = op
    cell = Cell(tuple(rows), tuple(ops))
    if all(pairs[e][0] < pairs[e + 1][0] for e in range(0, NUM_EDGES, 2)):  # normalized: its own decoding
        _remember(cell.rows, cell.ops, pairs)
    return cell


#: Decoded cells by exact form: edits, samplers and look-ups decode what they built, for free.
_DECODED: dict[tuple[tuple[int, ...], tuple[int, ...]], Pairs] = {}


def _remember(rows: tuple[int, ...], ops: tuple[int, ...], pairs: Pairs) -> None:
    if len(_DECODED) >= 1 << 17:
        _DECODED.clear()
    _DECODED[rows, ops] = pairs


def cell_to_pairs(cell: Cell) -> Pairs:
    """Invert `pairs_to_cell`; raise InvalidCellError for a cell that is not a converted DARTS cell."""
    pairs = _DECODED.get((cell.rows, cell.ops))
    return pairs if pairs is not None else _decode(cell.rows, cell.ops)


def _decode(rows: tuple[int, ...], ops: tuple[int, ...]) -> Pairs:
    layout = InvalidCellError("not a DARTS cell: 2 inputs, per node 2..5 two op vertices and a sum vertex, an output")
    if len(ops) != _OUTPUT_VERTEX + 1:
        raise layout
    source_of: dict[int, int] = {}
    for u, row in enumerate(rows):
        for v in bits(row):
            if v < _OUTPUT_VERTEX and v % 3 != 1:  # an op vertex
                if v in source_of:
                    raise layout
                source_of[v] = u
    node_of_vertex = {v: node for node, v in enumerate(_NODE_VERTEX)}
    try:
        found = [
            (node_of_vertex[source_of[2 + 3 * (e // 2) + (e & 1)]], ops[2 + 3 * (e // 2) + (e & 1)]) for e in range(8)
        ]
    except KeyError:
        raise layout from None
    pairs = normalize_pairs(found, num_ops=None)
    if pairs_to_cell(pairs) != Cell(rows, ops):
        raise layout
    return pairs


def _by_node(pairs: Pairs) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    return [(pairs[2 * i], pairs[2 * i + 1]) for i in range(len(NODES))]


def wiring(pairs: Pairs) -> Wiring:
    return tuple((a[0], b[0]) for a, b in _by_node(pairs))


# ---------------------------------------------------------------- isomorphism: relabelling intermediate nodes
@cache
def _all_wirings() -> tuple[Wiring, ...]:
    return tuple(itertools.product(*(itertools.combinations(range(node), 2) for node in NODES)))


@cache
def _relabellings(w: Wiring) -> tuple[dict[int, int], ...]:
    """Every renumbering of nodes 2..5 (inputs fixed) under which all edges still go forward."""
    edges = [(src, node) for node, srcs in zip(NODES, w, strict=True) for src in srcs]
    out = []
    for perm in itertools.permutations(NODES):
        pi = {0: 0, 1: 1} | dict(zip(NODES, perm, strict=True))
        if all(pi[src] < pi[dst] for src, dst in edges):
            out.append(pi)
    return tuple(out)


def _relabel(pairs: Pairs, pi: dict[int, int]) -> Pairs:
    moved: dict[int, list[tuple[int, int]]] = {}
    for node, two in zip(NODES, _by_node(pairs), strict=True):
        moved[pi[node]] = sorted((pi[src], op) for src, op in two)
    return tuple(pair for node in NODES for pair in moved[node])


@lru_cache(maxsize=1 << 16)
def canonical_pairs(pairs: Pairs) -> Pairs:
    """The smallest renumbering of a cell: equal for exactly the isomorphic cells."""
    return min(_relabel(pairs, pi) for pi in _relabellings(wiring(pairs)))


@cache
def _automorphisms(w: Wiring) -> tuple[tuple[int, ...], ...]:
    """The renumberings that map a wiring onto itself, each as the permutation it induces on the 8 edge positions."""
    edges = [(src, node) for node, srcs in zip(NODES, w, strict=True) for src in srcs]
    position = {edge: e for e, edge in enumerate(edges)}
    out = []
    for pi in _relabellings(w):
        image = [position.get((pi[src], pi[dst])) for src, dst in edges]
        if None not in image:
            out.append(tuple(image))
    return tuple(out)


def _flat_sources(w: Wiring) -> tuple[int, ...]:
    return tuple(src for srcs in w for src in srcs)


def _cycles(perm: tuple[int, ...]) -> int:
    seen, cycles = set(), 0
    for start in range(len(perm)):
        if start not in seen:
            cycles += 1
            v = start
            while v not in seen:
                seen.add(v)
                v = perm[v]
    return cycles


def count_cells(num_ops: int = len(DARTS_OPS), canonical: bool = True) -> int:
    """The exact number of cells of one type.

    Genotypes: prod over nodes k of C(k, 2) wirings times num_ops ** 8. Isomorphism classes: a class
    with wiring w and ops x has L(w) / |Aut(w, x)| genotypes, where L(w) counts the valid
    renumberings and Aut(w, x) the ones that map the cell onto itself; summing |Aut(w, x)| / L(w)
    over genotypes, and |Aut(w, x)| over ops by Burnside (sum over automorphisms pi of w of
    num_ops ** (cycles of pi on the edges)), gives the count exactly.
    """
    wirings = _all_wirings()
    if not canonical:
        return len(wirings) * num_ops**NUM_EDGES
    total = sum(
        (Fraction(sum(num_ops ** _cycles(p) for p in _automorphisms(w)), len(_relabellings(w))) for w in wirings),
        Fraction(0),
    )
    if total.denominator != 1:
        raise AssertionError(f"the class count {total} is not an integer; the automorphism bookkeeping is wrong")
    return int(total)


# ---------------------------------------------------------------- the space
@dataclass(frozen=True)
class DARTSSpace:
    """Two DARTS cells (normal, reduce); `op_names` can be cut down for exhaustive tests."""

    name: str = "darts"
    op_names: tuple[str, ...] = DARTS_OPS
    #: Vertices of one converted cell (the space's architectures have two such cells).
    max_vertices: int = 15

    # ------------------------------------------------------------ native form
    def arch(self, normal: Sequence[Sequence[int]], reduce: Sequence[Sequence[int]]) -> Arch:
        """The architecture of two cells given as 8 (source, op) pairs each, in any order within a node."""
        num_ops = len(self.op_names)
        return Arch(tuple(pairs_to_cell(normalize_pairs(p, num_ops)) for p in (normal, reduce)))

    def pairs(self, arch: Arch) -> tuple[Pairs, Pairs]:
        """(normal, reduce) pairs of a valid architecture."""
        if not isinstance(arch, Arch) or len(arch.cells) != len(CELL_TYPES):
            raise InvalidCellError("a DARTS architecture is Arch((normal cell, reduction cell))")
        normal, reduce = (cell_to_pairs(c) for c in arch.cells)
        num_ops = len(self.op_names)
        if any(op >= num_ops for _, op in normal + reduce):
            raise InvalidCellError(f"{self.name} ops are 0..{num_ops - 1}")
        return normal, reduce

    # ------------------------------------------------------------ validity and identity
    def validate(self, arch: Arch) -> Arch:
        """DARTS cells have nothing to prune: every node feeds the output and has two in-edges."""
        self.pairs(arch)
        return arch

    def identity(self, arch: Arch) -> tuple[Pairs, Pairs]:
        """The canonical form: two architectures are the same exactly when their canonical forms are equal."""
        normal, reduce = self.pairs(arch)
        return canonical_pairs(normal), canonical_pairs(reduce)

    def canonical(self, arch: Arch) -> Arch:
        """The canonical representative of the architecture's class (what benchmarks evaluate)."""
        return Arch(tuple(pairs_to_cell(p) for p in self.identity(arch)))

    def size(self, canonical: bool = True) -> int:
        """Number of architectures: the two cell types are independent, so the square of `count_cells`."""
        return count_cells(len(self.op_names), canonical) ** len(CELL_TYPES)

    # ------------------------------------------------------------ samplers
    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over the isomorphism classes (what `identity` counts), each cell independently.

        A uniform genotype lands in a class with probability proportional to its L / |Aut|
        genotypes, so it is accepted with probability |Aut| / L (at most 1: every automorphism is
        a valid renumbering).
        """
        return Arch(tuple(pairs_to_cell(self._sample_class(rng)) for _ in CELL_TYPES))

    def sample_genotype(self, rng: np.random.Generator) -> Arch:
        """Uniform over genotypes, as DARTS' and NAS-Bench-301's random search sample."""
        return Arch(tuple(pairs_to_cell(self._sample_pairs(rng)) for _ in CELL_TYPES))

    def _sample_pairs(self, rng: np.random.Generator) -> Pairs:
        wirings = _all_wirings()
        w = wirings[int(rng.integers(len(wirings)))]
        ops = rng.integers(0, len(self.op_names), size=NUM_EDGES)
        return tuple((src, int(op)) for src, op in zip(_flat_sources(w), ops, strict=True))

    def _sample_class(self, rng: np.random.Generator) -> Pairs:
        while True:
            pairs = self._sample_pairs(rng)
            w = wiring(pairs)
            ops = [op for _, op in pairs]
            fixing = sum(1 for p in _automorphisms(w) if all(ops[p[e]] == ops[e] for e in range(NUM_EDGES)))
            if rng.random() * len(_relabellings(w)) < fixing:
                return pairs

    # ------------------------------------------------------------ edit layout
    @cached_property
    def edit_layout(self) -> EditLayout:
        """The layout of the module doc, in vertices of the converted cells: per cell, op changes (the op
        vertex of edge e gets op o), then source changes (it reads the vertex of node s instead)."""
        num_ops = len(self.op_names)
        edits = tuple(
            edit
            for c in range(len(CELL_TYPES))
            for edit in (
                *(Edit(OP_CHANGE, c, _edge_vertex(e), NONE, o) for e in range(NUM_EDGES) for o in range(num_ops)),
                *(
                    Edit(SOURCE_CHANGE, c, _edge_vertex(e), _NODE_VERTEX[s])
                    for e in range(NUM_EDGES)
                    for s in range(MAX_SOURCES)
                ),
            )
        )
        return EditLayout(edits, num_cells=len(CELL_TYPES), max_vertices=self.max_vertices, num_ops=num_ops)

    @property
    def num_edits(self) -> int:
        return len(self.edit_layout)

    def edits(self, arch: Arch) -> Iterator[tuple[int, Arch]]:
        """Yield (edit index, result) for every applicable edit of a valid architecture (see the module doc)."""
        num_ops = len(self.op_names)
        cells = self.pairs(arch)
        index = self.edit_layout.index
        for c, pairs in enumerate(cells):
            for e, (src, op) in enumerate(pairs):
                for new_op in range(num_ops):
                    if new_op != op:
                        yield (
                            index[OP_CHANGE, c, _edge_vertex(e), NONE, new_op],
                            self._replace(arch, c, pairs, e, (src, new_op)),
                        )
            for e, (_, op) in enumerate(pairs):
                node = NODES[e // 2]
                taken = (pairs[e & ~1][0], pairs[e | 1][0])
                for new_src in range(node):
                    if new_src not in taken:
                        edit = (SOURCE_CHANGE, c, _edge_vertex(e), _NODE_VERTEX[new_src], NONE)
                        yield index[edit], self._replace(arch, c, pairs, e, (new_src, op))

    @staticmethod
    def _replace(arch: Arch, c: int, pairs: Pairs, e: int, pair: tuple[int, int]) -> Arch:
        new = list(pairs)
        new[e] = pair
        lo = e & ~1
        new[lo : lo + 2] = sorted(new[lo : lo + 2])
        cells = list(arch.cells)
        cells[c] = pairs_to_cell(tuple(new))
        return Arch(tuple(cells))

    def neighbours(self, arch: Arch) -> list[Arch]:
        """Every architecture one edit away, one per class, without the architecture's own class."""
        return distinct_neighbours(self, arch)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        return uniform_neighbour(self, arch, rng)

    # ------------------------------------------------------------ categorical encoding
    def choices(self) -> Choices:
        """NAS-Bench-301's ConfigSpace layout, unconditional: per cell and node, its two sources as one
        choice (`normal_node3_inputs`: '0_1', '0_2' or '1_2', so they are always distinct), then the op
        of the edge from the lower source and of the edge from the higher (`normal_node3_op0`, `_op1`)."""
        result: Choices = []
        for cell_type in CELL_TYPES:
            for node in NODES:
                sources = tuple(f"{a}_{b}" for a, b in itertools.combinations(range(node), 2))
                result.append((f"{cell_type}_node{node}_inputs", sources))
                result += [(f"{cell_type}_node{node}_op{k}", self.op_names) for k in (0, 1)]
        return result

    def from_choices(self, chosen: Mapping[str, int | str]) -> Arch:
        values = iter(chosen_values(self, chosen))
        cells = []
        for _ in CELL_TYPES:
            pairs = []
            for _ in NODES:
                a, b = (int(x) for x in str(next(values)).split("_"))
                pairs += [(a, self.op_names.index(next(values))), (b, self.op_names.index(next(values)))]
            cells.append(pairs)
        return self.arch(*cells)

    def to_choices(self, arch: Arch) -> dict[str, str]:
        """The inverse of `from_choices`, for this very genotype (not its canonical form): a node's pairs
        are ordered by source, so `op0` is the op on the edge from its lower source."""
        chosen = {}
        for cell_type, pairs in zip(CELL_TYPES, self.pairs(arch), strict=True):
            for node, (a, b) in zip(NODES, _by_node(pairs), strict=True):
                chosen[f"{cell_type}_node{node}_inputs"] = f"{a[0]}_{b[0]}"
                chosen[f"{cell_type}_node{node}_op0"] = self.op_names[a[1]]
                chosen[f"{cell_type}_node{node}_op1"] = self.op_names[b[1]]
        return chosen

    # ------------------------------------------------------------ text forms
    def cell_from_names(self, matrix: list[list[int]], op_names: list[str]) -> Arch:
        raise InvalidCellError("give DARTS architectures as --genotype (a Genotype(...) string, NASLib pairs or JSON)")

    def to_text(self, arch: Arch) -> str:
        """The DARTS Genotype string (the canonical text form, as `rlnas query` prints it)."""
        return to_genotype(arch)

    def from_text(self, text: str) -> Arch:
        """A Genotype string, NASLib pairs or a NAS-Bench-301 ConfigSpace JSON object."""
        arch = parse_arch(text)
        if len(self.op_names) != len(DARTS_OPS):
            self.pairs(arch)
        return arch

    def describe(self, arch: Arch) -> dict:
        return {
            "genotype": to_genotype(arch),
            "naslib": to_naslib(arch),
            "config": to_config(arch),
        }


DARTS_SPACE = DARTSSpace()


# ---------------------------------------------------------------- formats: DARTS, NASLib, NAS-Bench-301
_CONCAT = list(NODES)


def to_genotype(arch: Arch) -> str:
    """The DARTS `Genotype(normal=[(op name, source), ...], normal_concat=[2, 3, 4, 5], reduce=..., ...)` string."""
    normal, reduce = DARTS_SPACE.pairs(arch)

    def ops(pairs: Pairs) -> str:
        return repr([(DARTS_OPS[op], src) for src, op in pairs])

    return f"Genotype(normal={ops(normal)}, normal_concat={_CONCAT}, reduce={ops(reduce)}, reduce_concat={_CONCAT})"


def from_genotype(text: str) -> Arch:
    """Parse a DARTS Genotype string (keywords or positional; a concat may be `range(2, 6)`); no code is run."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise InvalidCellError(f"not a Genotype(...) expression: {exc.msg}") from exc
    if not isinstance(call, ast.Call) or getattr(call.func, "id", getattr(call.func, "attr", None)) != "Genotype":
        raise InvalidCellError(
            "a genotype is Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])"
        )
    fields = ("normal", "normal_concat", "reduce", "reduce_concat")
    given = dict(zip(fields, call.args, strict=False)) | {k.arg: k.value for k in call.keywords}
    if set(given) != set(fields):
        raise InvalidCellError(
            f"a Genotype needs exactly the fields {', '.join(fields)}; got {', '.join(map(str, given))}"
        )
    values = {name: _literal(node, name) for name, node in given.items()}
    cells = []
    for cell_type in CELL_TYPES:
        if list(values[f"{cell_type}_concat"]) != _CONCAT:
            raise InvalidCellError(
                f"{cell_type}_concat must be [2, 3, 4, 5]: the DARTS space concatenates all four nodes"
            )
        try:
            pairs = [(src, DARTS_OPS.index(op)) for op, src in values[cell_type]]
        except (ValueError, TypeError) as exc:
            raise InvalidCellError(
                f"{cell_type} must be 8 (op name, source) pairs with ops from {', '.join(DARTS_OPS)}"
            ) from exc
        cells.append(pairs)
    return DARTS_SPACE.arch(*cells)


def _literal(node: ast.expr, name: str):
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "range":
        return range(*(_literal(a, name) for a in node.args))
    try:
        return ast.literal_eval(node)
    except ValueError as exc:
        raise InvalidCellError(f"Genotype field {name} must be a literal list") from exc


def to_naslib(arch: Arch) -> str:
    """NASLib's compact form, as the keys of the shared nb301 file: '[[(source, op index), ...], [...]]'."""
    return str([list(p) for p in DARTS_SPACE.pairs(arch)])


def from_naslib(text_or_value: str | Sequence) -> Arch:
    value = text_or_value
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError) as exc:
            raise InvalidCellError(
                "NASLib form is two lists of 8 (source, op index) pairs: '[[(0, 3), ...], [...]]'"
            ) from exc
    if not isinstance(value, list | tuple) or len(value) != len(CELL_TYPES):
        raise InvalidCellError("NASLib form is two lists (normal, reduce) of 8 (source, op index) pairs")
    return DARTS_SPACE.arch(*value)


CONFIG_PREFIX = "NetworkSelectorDatasetInfo:darts:"
#: First ConfigSpace edge index of each node: node k's edge from source s is edge_{type}_{offset + s}.
_EDGE_OFFSET = {node: sum(NODES[:i]) for i, node in enumerate(NODES)}


def to_config(arch: Arch) -> dict[str, str]:
    """NAS-Bench-301's ConfigSpace dictionary (architecture keys only; NB301 adds its fixed hyperparameters)."""
    config: dict[str, str] = {}
    for cell_type, pairs in zip(CELL_TYPES, DARTS_SPACE.pairs(arch), strict=True):
        for node, (a, b) in zip(NODES, _by_node(pairs), strict=True):
            for src, op in (a, b):
                config[f"{CONFIG_PREFIX}edge_{cell_type}_{_EDGE_OFFSET[node] + src}"] = DARTS_OPS[op]
            if node != NODES[0]:
                config[f"{CONFIG_PREFIX}inputs_node_{cell_type}_{node}"] = f"{a[0]}_{b[0]}"
    return config


def from_config(config: dict) -> Arch:
    """Inverse of `to_config`; other hyperparameters are ignored, missing or stray edges are errors."""
    cells = []
    for cell_type in CELL_TYPES:
        edge_keys = {k for k in config if k.startswith(f"{CONFIG_PREFIX}edge_{cell_type}_")}
        pairs, used = [], set()
        for node in NODES:
            if node == NODES[0]:
                sources = (0, 1)
            else:
                key = f"{CONFIG_PREFIX}inputs_node_{cell_type}_{node}"
                try:
                    sources = tuple(int(s) for s in str(config[key]).split("_"))
                except KeyError as exc:
                    raise InvalidCellError(f"the config has no {key}; it names node {node}'s two sources") from exc
                except ValueError as exc:
                    raise InvalidCellError(f"{key} is {config[key]!r}; it must be two sources like '0_1'") from exc
            for src in sources:
                key = f"{CONFIG_PREFIX}edge_{cell_type}_{_EDGE_OFFSET[node] + src}"
                if key not in config or config[key] not in DARTS_OPS:
                    raise InvalidCellError(
                        f"{key} must be one of {', '.join(DARTS_OPS)} (node {node}'s edge from {src})"
                    )
                pairs.append((src, DARTS_OPS.index(config[key])))
                used.add(key)
        if edge_keys - used:
            raise InvalidCellError(
                f"{sorted(edge_keys - used)[0]} is set but its source is not among its node's inputs"
            )
        cells.append(pairs)
    return DARTS_SPACE.arch(*cells)


def parse_arch(text: str) -> Arch:
    """A DARTS architecture from any of its text forms: a Genotype(...) string, NASLib pairs, or a ConfigSpace JSON."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return from_config(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise InvalidCellError(
                f"the ConfigSpace form is not valid JSON ({exc.msg} at character {exc.pos})"
            ) from exc
    if stripped.startswith(("[", "(")):
        return from_naslib(stripped)
    return from_genotype(stripped)
