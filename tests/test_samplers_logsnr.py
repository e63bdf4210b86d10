"""The ``"logsnr"`` spacing: evenly spaced in the scaled log-SNR, the same for every ``lam`` and ``T``."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from conftest import make_oracle
from irsde.samplers import SAMPLERS, sample
from irsde.sde import IRSDE, SPACINGS, DenoisingSDE
from irsde.sde.grid import LOGSNR_SPAN, scaled_log_snr


def test_logsnr_is_a_registered_spacing():
    assert "logsnr" in SPACINGS


@pytest.mark.parametrize("T", [10, 100, 1000])
@pytest.mark.parametrize("steps", [1, 2, 3, 5, 6, 10])
def test_grid_is_strictly_descending_from_T(T, steps):
    sde = IRSDE(25, T)
    ts = sde.timesteps(min(steps, T), "logsnr")
    assert ts[0] == T and len(ts) == min(steps, T)
    assert all(b < a for a, b in itertools.pairwise(ts)) and ts[-1] >= 1


def test_points_after_T_are_evenly_spaced_in_rho_over_the_span():
    sde = IRSDE(25, 1000, dtype=torch.float64)
    rho = scaled_log_snr(sde, sde.T)
    ts = sde.timesteps(6, "logsnr")
    got = [float(rho[t]) for t in ts[1:]]
    want = torch.linspace(*LOGSNR_SPAN, 5).tolist()
    assert got == pytest.approx(want, abs=0.02)  # nearest timestep of 1000
    assert float(rho[ts[0]]) < LOGSNR_SPAN[0]


def test_rho_is_the_log_odds_of_alpha_squared_for_irsde():
    sde = IRSDE(10, 100, dtype=torch.float64)
    rho = scaled_log_snr(sde, sde.T)
    for t in (1, 30, 99):
        a = sde.marginal_coefs(t)[0]
        assert float(rho[t]) == pytest.approx(0.5 * math.log(a * a / (1 - a * a)), rel=1e-4)


def test_same_grid_for_every_max_sigma_and_schedule_scaling_with_T():
    for steps in (3, 5, 10):
        assert IRSDE(10, 100).timesteps(steps, "logsnr") == IRSDE(50, 100).timesteps(
            steps, "logsnr"
        )
    small, large = IRSDE(25, 100).timesteps(5, "logsnr"), IRSDE(25, 1000).timesteps(5, "logsnr")
    assert all(abs(10 * a - b) <= 15 for a, b in zip(small, large, strict=True))


def test_two_steps_jump_to_the_top_of_the_span():
    sde = IRSDE(25, 100, dtype=torch.float64)
    ts = sde.timesteps(2, "logsnr")
    assert float(scaled_log_snr(sde, 100)[ts[1]]) == pytest.approx(LOGSNR_SPAN[1], abs=0.3)


def test_start_inside_the_span_is_its_first_point():
    sde = IRSDE(25, 100, dtype=torch.float64)
    rho = scaled_log_snr(sde, 100)
    start = next(t for t in range(100, 0, -1) if rho[t] > LOGSNR_SPAN[0] + 1)
    ts = sde.timesteps(4, "logsnr", start=start)
    assert ts[0] == start and len(ts) == 4
    gaps = [float(rho[b] - rho[a]) for a, b in itertools.pairwise(ts)]
    assert max(gaps) - min(gaps) < 0.3


def test_denoising_sde_and_tiny_T_fall_back_gracefully():
    sde = DenoisingSDE(70, 100)
    ts = sde.timesteps(5, "logsnr", start=60)
    assert ts[0] == 60 and len(ts) == 5 and ts == sorted(set(ts), reverse=True)
    assert IRSDE(25, 2).timesteps(2, "logsnr") == [2, 1]


EULER = {"sde", "ode"}  # first-order in the drift: exact only on the full grid


@pytest.mark.parametrize(
    "name", sorted(n for n in set(SAMPLERS) - EULER if SAMPLERS[n].supports(IRSDE(10, 100)))
)
def test_every_exponential_sampler_recovers_x0_with_the_oracle_on_logsnr(pair, name):
    x0, mu = pair
    sde = IRSDE(10, 100)
    g = torch.Generator().manual_seed(0)
    for steps in (1, 5, 10):
        out = sample(make_oracle(sde, x0), sde, mu, name, steps, spacing="logsnr", generator=g)
        assert (out - x0).abs().max() < 1e-3, (name, steps)


def test_logsnr_grid_on_a_bridge_pinned_at_T():
    """GOUB's marginal std is 0 at T: the grid measures against its widest marginal."""
    from irsde.sde import build_sde

    sde = build_sde({"type": "goub"})
    ts = sde.timesteps(6, "logsnr")
    assert ts[0] == sde.T and len(ts) == 6 and ts == sorted(set(ts), reverse=True) and ts[-1] >= 1
