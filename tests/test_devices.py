"""One rule for `--device` values, the same for training children, ENAS and both Ape-X trainers."""

from __future__ import annotations

import pytest
import torch

from rlnas.agents.apex.config import ApeXConfig
from rlnas.benchmarks.training import TrainingSettings
from rlnas.devices import check_device, resolve_device
from rlnas.enas.config import ENASConfig
from rlnas.errors import ConfigError


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:1"])
def test_the_device_names_everyone_takes(name):
    check_device(name)
    ApeXConfig(device=name)
    TrainingSettings(device=name)
    ENASConfig(device=name)


@pytest.mark.parametrize("name", ["tpu", "cuda:", "cuda:x", "gpu", ""])
def test_other_device_names_are_refused_alike(name):
    makers = (check_device, *(lambda n, c=c: c(device=n) for c in (ApeXConfig, TrainingSettings, ENASConfig)))
    for make in makers:
        with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
            make(name)


def test_resolving_says_when_no_gpu_is_there():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no GPU"):
            resolve_device("cuda")
