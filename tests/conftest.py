"""Shared fixtures: small tensors and an oracle network built from a known x0."""

from __future__ import annotations

import pytest
import torch

from irsde import IRSDE


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and a busy machine makes them slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def pair(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny (x0, mu) batch: mu is x0 with a smooth shift plus noise."""
    x0 = torch.rand(2, 3, 8, 8, generator=gen)
    mu = 0.8 * x0 + 0.1 + 0.05 * torch.randn(2, 3, 8, 8, generator=gen)
    return x0, mu


def make_oracle(sde: IRSDE, x0: torch.Tensor):
    """A 'network' that returns the exact noise of x_t relative to the known x0."""

    def net(x_t: torch.Tensor, mu: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return sde.noise_from_x0(x_t, x0, mu, t)

    return net
