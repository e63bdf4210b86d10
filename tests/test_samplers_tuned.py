"""The ``"tuned"`` spacing: stored log-SNR targets per NFE, ``"logsnr"`` where it has none."""

from __future__ import annotations

import itertools

import pytest
import torch

from conftest import make_oracle
from irsde.samplers import sample
from irsde.sde import IRSDE, SPACINGS
from irsde.sde.grid import TUNED_RHO, scaled_log_snr


def test_tuned_is_a_registered_spacing_with_increasing_targets():
    assert "tuned" in SPACINGS
    for n, targets in TUNED_RHO.items():
        assert len(targets) == n - 1
        assert all(a < b for a, b in itertools.pairwise(targets))


@pytest.mark.parametrize("T", [100, 1000])
@pytest.mark.parametrize("steps", sorted(TUNED_RHO))
def test_grid_visits_the_timesteps_nearest_the_targets(T, steps):
    sde = IRSDE(25, T, dtype=torch.float64)
    ts = sde.timesteps(steps, "tuned")
    assert ts[0] == T and len(ts) == steps
    assert all(b < a for a, b in itertools.pairwise(ts))
    rho = scaled_log_snr(sde, T)
    for t, target in zip(ts[1:], TUNED_RHO[steps], strict=True):
        # no other timestep lies closer to the target (t = 1 for targets above rho_1)
        assert all(abs(float(rho[t]) - target) <= abs(float(rho[u]) - target) + 1e-12
                   for u in range(1, T))  # fmt: skip


def test_five_steps_at_T_100():
    assert IRSDE(25, 100).timesteps(5, "tuned") == [100, 68, 42, 16, 1]
    assert IRSDE(10, 100).timesteps(5, "tuned") == [100, 68, 42, 16, 1]  # rho is lam-free


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 11, 20])
def test_steps_without_targets_are_the_logsnr_grid(steps):
    sde = IRSDE(25, 100)
    assert steps not in TUNED_RHO
    assert sde.timesteps(steps, "tuned") == sde.timesteps(steps, "logsnr")


def test_an_intermediate_start_or_a_short_process_is_the_logsnr_grid():
    sde = IRSDE(25, 100)
    assert sde.timesteps(5, "tuned", start=60) == sde.timesteps(5, "logsnr", start=60)
    short = IRSDE(25, 8)
    assert short.timesteps(5, "tuned") == short.timesteps(5, "logsnr")


def test_unipc_on_the_tuned_grid_recovers_x0_with_the_oracle():
    sde = IRSDE(25, 100, dtype=torch.float64)
    x0 = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    mu = x0 + 0.1 * torch.randn_like(x0)
    out = sample(make_oracle(sde, x0), sde, mu, "unipc", 5, spacing="tuned",
                 generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert torch.allclose(out, x0, atol=1e-6)
