"""Contract of every registered sampler on every registered SDE it supports: with the
exact-score oracle it recovers x0, it visits the grid it is given from any start, it is
reproducible, and it runs without autograd. A new sampler (or SDE) is tested here by
itself; one that cannot run on an SDE must refuse it in one line."""

from __future__ import annotations

import pytest
import torch

from irsde.samplers import SAMPLERS, sample
from irsde.sde import SDES

F64 = torch.float64


def instance(name: str):
    try:
        return SDES[name](dtype=F64)
    except TypeError:
        return SDES[name]()


CASES = [(s, p) for s in sorted(SAMPLERS) for p in sorted(SDES)]


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 3, 6, 5, generator=g, dtype=F64)
    mu = 0.8 * x0 + 0.1 + 0.05 * torch.randn(x0.shape, generator=g, dtype=F64)
    return x0, mu


def oracle(sde, x0, calls: list[int] | None = None):
    def net(x_t, mu, t):
        assert t.dtype == torch.long and t.shape == (x_t.shape[0],)
        if calls is not None:
            calls.append(int(t[0]))
        return sde.noise_from_x0(x_t, x0, mu, t)

    return net


def exact_state(sde, x0, mu, t, seed=1):
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return sde.q_sample(x0, mu, t, z)


def run(name, sde, x0, mu, steps=None, start=None, seed=2, **kw):
    start_t = sde.T if start is None else start
    return sample(
        oracle(sde, x0), sde, mu, name, steps, start=start, x_T=exact_state(sde, x0, mu, start_t),
        generator=torch.Generator().manual_seed(seed), **kw,
    )  # fmt: skip


@pytest.mark.parametrize(("name", "sde_name"), CASES)
def test_recovers_x0_with_the_oracle(name, sde_name, problem):
    sde, (x0, mu) = instance(sde_name), problem
    if not SAMPLERS[name].supports(sde):
        with pytest.raises(ValueError, match=f"the {name} sampler cannot run on"):
            sample(oracle(sde, x0), sde, mu, name, 3)
        return
    errors = {}
    for start in (sde.T, sde.T // 2):
        for steps in (3, 20, None):
            out = run(name, sde, x0, mu, steps, start)
            assert out.shape == x0.shape and torch.isfinite(out).all()
            errors[start, steps] = float((out - x0).abs().max())
        assert errors[start, None] < 0.02, errors
        assert errors[start, 20] < 0.05, errors
        assert errors[start, None] <= errors[start, 3] + 1e-3, errors


@pytest.mark.parametrize(("name", "sde_name"), CASES)
def test_visits_the_grid_from_any_start(name, sde_name, problem):
    sde, (x0, mu) = instance(sde_name), problem
    if not SAMPLERS[name].supports(sde):
        pytest.skip("unsupported pair (refusal tested above)")
    for start, steps, spacing in (
        (None, 4, "uniform"),
        (sde.T // 2, 3, "quadratic"),
        (7, None, "sigma"),
    ):
        calls, seen = [], []
        s = sde.T if start is None else start
        sample(
            oracle(sde, x0, calls), sde, mu, name, steps, start=start, spacing=spacing,
            x_T=exact_state(sde, x0, mu, s), callback=seen.append,
        )  # fmt: skip
        expect = sde.timesteps(steps, spacing, start)
        assert calls == expect and [d["t"] for d in seen] == expect
        assert all(d["steps"] == len(expect) for d in seen) and seen[-1]["s"] == 0
    grid = [sde.T, sde.T // 3, 2]
    calls = []
    sample(
        oracle(sde, x0, calls), sde, mu, name, timesteps=grid, x_T=exact_state(sde, x0, mu, sde.T)
    )
    assert calls == grid


@pytest.mark.parametrize(("name", "sde_name"), CASES)
def test_reproducible_and_without_autograd(name, sde_name, problem):
    sde, (x0, mu) = instance(sde_name), problem
    if not SAMPLERS[name].supports(sde):
        pytest.skip("unsupported pair")
    weight = torch.nn.Parameter(torch.ones((), dtype=F64))
    base = oracle(sde, x0)

    def net(x_t, m, t):  # not the oracle: a stochastic sampler's result then depends on its noise
        return (0.9 * base(x_t, m, t) + 0.1 * torch.tanh(x_t)) * weight

    def go(seed):
        return sample(net, sde, mu, name, 5, generator=torch.Generator().manual_seed(seed))

    a, b, c = go(3), go(3), go(4)
    assert not a.requires_grad and a.grad_fn is None
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    if SAMPLERS[name].stochastic:
        assert not torch.equal(a, c)
    else:  # deterministic given x_T: only the prior draw differs
        x_T = exact_state(sde, x0, mu, sde.T)
        outs = [
            sample(net, sde, mu, name, 5, x_T=x_T, generator=torch.Generator().manual_seed(k))
            for k in (5, 6)
        ]
        torch.testing.assert_close(outs[0], outs[1], atol=0, rtol=0)


def test_bad_inputs_are_one_line_errors(problem):
    x0, mu = problem
    sde = instance("irsde")
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(oracle(sde, x0), sde, mu, "nope")
    with pytest.raises(TypeError, match=r"mu must be a floating-point torch\.Tensor"):
        sample(oracle(sde, x0), sde, mu.numpy(), "posterior", 2)
    with pytest.raises(ValueError, match="needs the state there"):
        sample(oracle(sde, x0), sde, mu, "posterior", 2, start=50)
    with pytest.raises(ValueError, match="descend strictly"):
        sample(oracle(sde, x0), sde, mu, "posterior", timesteps=[5, 9])
