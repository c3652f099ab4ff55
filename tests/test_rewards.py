from __future__ import annotations

import numpy as np
import pytest

from rlnas.errors import RlnasError
from rlnas.rewards import SHAPING_FORMS, shape_reward


@pytest.mark.parametrize("form", list(SHAPING_FORMS))
def test_shaping_keeps_order_and_endpoints_and_stretches_the_top(form):
    acc = np.linspace(0, 1, 101)
    shaped = shape_reward(acc, 6, form)
    assert shaped[0] == pytest.approx(0) and shaped[-1] == pytest.approx(1)
    assert np.all(np.diff(shaped) > 0)
    # the gap between two good cells grows relative to the gap between two poor ones
    assert (shape_reward(0.94, 6, form) - shape_reward(0.93, 6, form)) > 5 * (
        shape_reward(0.31, 6, form) - shape_reward(0.30, 6, form)
    )


def test_shaping_rejects_bad_options():
    with pytest.raises(RlnasError, match="unknown reward shaping"):
        shape_reward(0.9, 6, "cubic")
    with pytest.raises(RlnasError, match="must be positive"):
        shape_reward(0.9, 0, "power")
