from __future__ import annotations

import itertools

import pytest

from rlnas.cells import OUTPUT, SUM, EdgeCell, edges_to_nodes, nodes_to_edges
from rlnas.errors import InvalidCellError
from rlnas.spaces.nb201 import NB201_OPS, nb201_cell_to_string, nb201_string_to_cell
from tests.conftest import make_cell


def test_nb201_round_trip_is_lossless_on_all_15625_cells():
    archs = ["".join(ops) for ops in itertools.product("01234", repeat=6)]
    cells = [nb201_string_to_cell(a) for a in archs]
    assert [nb201_cell_to_string(c) for c in cells] == archs
    assert len({c.key for c in cells}) == len(archs) == 15_625


def test_edge_ops_become_vertices_between_sum_vertices():
    cell = nb201_string_to_cell("300000")  # conv3x3 on 1<-0, 'none' elsewhere
    assert cell.num_vertices == 1 + 6 + 3 + 1  # input, op vertices, sum vertices, output
    assert cell.ops.count(SUM) == 3 and cell.ops[-1] == OUTPUT
    assert cell.ops[1] == NB201_OPS.index("nor_conv_3x3")
    m = cell.matrix
    assert m[0, 1] == 1 and m[1, 2] == 1  # input -> op(1<-0) -> sum node 1
    assert m[:, -1].sum() == 1  # only node 3 feeds the output
    assert all(m[v].sum() == 1 and m[:, v].sum() == 1 for v, op in enumerate(cell.ops) if op >= 0)


def test_generic_edge_cell_round_trip_with_several_output_nodes():
    edge_cell = EdgeCell(4, ((0, 1, 2), (0, 2, 0), (1, 2, 1), (1, 3, 3), (2, 3, 4)), (1, 2, 3))
    assert nodes_to_edges(edges_to_nodes(edge_cell)) == edge_cell


def test_conversion_rejects_backward_edges_and_non_converted_cells():
    with pytest.raises(InvalidCellError):
        edges_to_nodes(EdgeCell(3, ((2, 1, 0),), (2,)))
    with pytest.raises(InvalidCellError):
        nodes_to_edges(make_cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [0]))
