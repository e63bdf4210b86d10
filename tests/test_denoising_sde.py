"""The reference's Gaussian-denoising SDE: schedules, optimal timestep, reverse loops and
training targets against values produced by the reference implementation.

``tests/data/denoising_sde_reference.safetensors`` was made by running the reference
repository's ``DenoisingSDE`` (``codes/utils/sde_utils.py``) on three settings with
the toy network ``0.3 tanh(x - 0.5) t / T + 0.01`` (x0: ``torch.rand(1, 3, 8, 9)`` from
a generator seeded 1, then its noisy version): its arrays, ``get_optimal_timestep``
for sigma 5/15/25/50/0.1, ``reverse_ode`` and ``reverse_sde`` (after
``torch.manual_seed(123)``) from the optimal timestep of sigma 25, and
``reverse_sde_step_mean`` / ``reverse_optimum_step`` at t = 1, T/3, T.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import irsde
from irsde.samplers import sample
from irsde.sde import build_sde

REF = load_file(str(Path(__file__).parent / "data" / "denoising_sde_reference.safetensors"))
SETTINGS = [(70, 1000, "cosine"), (75, 100, "cosine"), (50, 200, "linear")]


def ref(setting, name):
    return REF["{}_{}_{}.{}".format(*setting, name)]


def toy_net(T):
    def net(x, mu, t):
        return 0.3 * torch.tanh(x - 0.5) * (float(t.reshape(-1)[0]) / T) + 0.01

    return net


@pytest.mark.parametrize("setting", SETTINGS)
def test_schedule_arrays_and_optimal_timestep_match_the_reference(setting):
    ms, T, schedule = setting
    sde = irsde.DenoisingSDE(max_sigma=ms, T=T, schedule=schedule)
    for name in ("thetas", "sigmas", "thetas_cumsum", "sigma_bars"):
        arr = getattr(sde, name)
        assert arr.shape == (T + 1,)
        torch.testing.assert_close(arr, ref(setting, name), atol=0, rtol=0)
    assert sde.dt == pytest.approx(float(ref(setting, "dt")), rel=1e-7)
    assert [sde.optimal_timestep(s) for s in (5, 15, 25, 50, 0.1)] == ref(setting, "tstar").tolist()


@pytest.mark.parametrize("setting", SETTINGS)
def test_reverse_loops_from_the_optimal_timestep_match_the_reference(setting):
    ms, T, schedule = setting
    sde = build_sde({"type": "denoising", "max_sigma": ms, "T": T, "schedule": schedule})
    noisy = ref(setting, "noisy")
    t_star = sde.optimal_timestep(25)
    ode = sample(toy_net(T), sde, noisy, "ode", start=t_star, x_T=noisy.clone())
    torch.testing.assert_close(ode, ref(setting, "ode"), atol=0, rtol=0)
    torch.manual_seed(123)
    draw = lambda i, like: torch.randn_like(like)  # noqa: E731  (the reference's global stream)
    out = sample(toy_net(T), sde, noisy, "sde", start=t_star, x_T=noisy.clone(), noise_fn=draw)
    torch.testing.assert_close(out, ref(setting, "sde"), atol=0, rtol=0)


@pytest.mark.parametrize("setting", SETTINGS)
def test_training_targets_match_the_reference(setting):
    ms, T, schedule = setting
    sde = irsde.DenoisingSDE(ms, T, schedule)
    t = torch.tensor([1, T // 3, T])
    xt = ref(setting, "noisy").repeat(3, 1, 1, 1)
    noise = 0.3 * torch.tanh(xt - 0.5) * (1 / T) + 0.01
    score = sde.score_from_noise(noise, t)
    torch.testing.assert_close(sde.reverse_sde_mean(xt, xt, score, t), ref(setting, "mean"))
    x0 = torch.rand(1, 3, 8, 9, generator=torch.Generator().manual_seed(1)).repeat(3, 1, 1, 1)
    torch.testing.assert_close(sde.optimal_prev(xt, x0, xt, t), ref(setting, "optimum"))


def test_optimal_timestep_and_settings_are_checked():
    sde = irsde.DenoisingSDE()
    assert sde.T == 1000 and sde.spec()["type"] == "denoising" and sde.eps == 0.04
    assert sde.optimal_timestep(300) == sde.T  # beyond max_sigma: start at T
    with pytest.raises(ValueError, match="sigma"):
        sde.optimal_timestep(-1)
    with pytest.raises(ValueError, match="schedule"):
        irsde.DenoisingSDE(schedule="constant")
