"""The exact-posterior benchmark (``benchmarks/exact_posterior.py``) against dense maths.

On tiny images every closed form of the benchmark is checked against plain Gaussian
conditioning with dense matrices, so the benchmark's "truth" is the truth.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from irsde.samplers import supported
from irsde.sde import IRSDE

ROOT = Path(__file__).resolve().parents[1]


def _load_bench():
    if "exact_posterior" in sys.modules:
        return sys.modules["exact_posterior"]
    path = ROOT / "benchmarks/exact_posterior.py"
    spec = importlib.util.spec_from_file_location("exact_posterior", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["exact_posterior"] = mod
    spec.loader.exec_module(mod)
    return mod


ep = _load_bench()


def dense(op, size: int) -> torch.Tensor:
    """The matrix of a linear map on ``(1, 1, size, size)`` images (columns = basis images)."""
    n = size * size
    basis = torch.eye(n, dtype=torch.float64).reshape(n, 1, size, size)
    return op(basis).reshape(n, n).T


def problem_matrices(problem):
    """Dense prior mean, prior covariance and degradation matrix of a problem."""
    size = problem.size
    C = dense(lambda x: ep.idft(problem.power * ep.dft(x)), size)
    H = dense(lambda x: ep.idft(problem.transfer * ep.dft(x)), size)
    m = torch.full((size * size,), problem.mean, dtype=torch.float64)
    return m, C, H


def condition(mean, cov, A, obs_noise_cov, obs):
    """``E[w | A w + e = obs]`` and ``Cov[w | obs]`` for ``w ~ N(mean, cov)``, ``e ~ N(0, R)``."""
    S = A @ cov @ A.T + obs_noise_cov
    K = cov @ A.T @ torch.linalg.inv(S)
    return mean + K @ (obs - A @ mean), cov - K @ A @ cov


@pytest.fixture(params=["noise", "blur"])
def problem(request):
    return ep.make_problem(request.param, size=4, blur_sigma=0.7)


def test_posterior_matches_dense_conditioning(problem):
    gen = torch.Generator().manual_seed(0)
    y = problem.degrade(problem.sample_prior(1, gen), gen)
    m, C, H = problem_matrices(problem)
    R = problem.noise_std**2 * torch.eye(16, dtype=torch.float64)
    mean, cov = condition(m, C, H, R, y.reshape(-1))

    got_mean = ep.idft(problem.posterior_mean_dft(y)).reshape(-1)
    var = problem.posterior_var()
    got_cov = dense(lambda x: ep.idft(var * ep.dft(x)), 4)
    torch.testing.assert_close(got_mean, mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(got_cov, cov, rtol=0, atol=1e-10)


def test_optimal_noise_matches_dense_conditional_expectation(problem):
    """``net(x_t, y, t) = E[eps | x_t, y]`` from the joint Gaussian of ``(x0, n, eps)``."""
    sde = IRSDE(max_sigma=25, T=10)
    net = ep.OptimalNoise(problem, sde)
    gen = torch.Generator().manual_seed(1)
    ts = torch.tensor([1, 4, 10])
    x0 = problem.sample_prior(3, gen)
    y = problem.degrade(x0, gen)
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    x_t = sde.q_sample(x0, y, ts, eps)
    got = net(x_t, y, ts)

    m, C, H = problem_matrices(problem)
    n, eye = 16, torch.eye(16, dtype=torch.float64)
    zero = torch.zeros(n, n, dtype=torch.float64)
    one, nil = torch.ones((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    for b, t in enumerate(ts.tolist()):
        a, s = float(sde.mu_bar(one, nil, t)), float(sde.sigma_bar(t))
        # w = (x0, n, eps); y = H x0 + n; x_t = (1 - a) y + a x0 + s eps
        mean_w = torch.cat([m, torch.zeros(2 * n, dtype=torch.float64)])
        cov_w = torch.block_diag(C, problem.noise_std**2 * eye, eye)
        A = torch.cat(
            [
                torch.cat([H, eye, zero], 1),
                torch.cat([(1 - a) * H + a * eye, (1 - a) * eye, s * eye], 1),
            ]
        )
        obs = torch.cat([y[b].reshape(-1), x_t[b].reshape(-1)])
        post, _ = condition(mean_w, cov_w, A, torch.zeros(2 * n, 2 * n, dtype=torch.float64), obs)
        torch.testing.assert_close(got[b].reshape(-1), post[2 * n :], rtol=0, atol=1e-8)
        alone = net(x_t[b : b + 1], y[b : b + 1], ts[b : b + 1])  # the one-timestep path
        torch.testing.assert_close(alone[0], got[b], rtol=0, atol=1e-12)


def test_w2_of_exact_samples_shrinks_with_k():
    problem = ep.make_problem("noise", size=8)
    gen = torch.Generator().manual_seed(2)
    y = problem.degrade(problem.sample_prior(1, gen), gen)
    mean, var = problem.posterior_mean_dft(y)[0, 0], problem.posterior_var()
    few = ep.w2_distance(problem.sample_posterior(y, 50, gen), mean, var)
    many = ep.w2_distance(problem.sample_posterior(y, 5000, gen), mean, var)
    assert many < 0.3 * few
    # expected size of the estimator's error: sqrt(1.25 / K) of the pixel std (mean + variance)
    pixel_std = math.sqrt(float(var.mean()))
    assert 0.5 < many / (pixel_std * math.sqrt(1.25 / 5000)) < 2


def test_w2_of_the_posterior_mean_is_the_posterior_pixel_std():
    """A point mass at the mean: W2^2 = tr(Cov), i.e. the pixel std per pixel."""
    problem = ep.make_problem("blur", size=8)
    gen = torch.Generator().manual_seed(3)
    y = problem.degrade(problem.sample_prior(1, gen), gen)
    mean, var = problem.posterior_mean_dft(y), problem.posterior_var()
    point = ep.idft(mean).expand(10, -1, -1, -1)
    assert ep.w2_distance(point, mean[0, 0], var) == pytest.approx(math.sqrt(float(var.mean())))
    assert ep.std_ratio(point, var) == pytest.approx(0, abs=1e-6)


def test_many_step_posterior_sampler_is_far_closer_than_one_step():
    problem = ep.make_problem("noise", size=8)
    sde = IRSDE(max_sigma=25, T=50)
    net = ep.OptimalNoise(problem, sde)
    gen = torch.Generator().manual_seed(4)
    y = problem.degrade(problem.sample_prior(1, gen), gen)
    mean, var = problem.posterior_mean_dft(y)[0, 0], problem.posterior_var()
    mu = y.expand(400, -1, -1, -1).float().contiguous()
    one = ep.run_sampler(net, sde, mu, "posterior", 1, "uniform", 0)
    full = ep.run_sampler(net, sde, mu, "posterior", 50, "uniform", 0)
    assert ep.w2_distance(full, mean, var) < 0.3 * ep.w2_distance(one, mean, var)
    assert ep.std_ratio(one, var) < 0.1
    assert 0.85 < ep.std_ratio(full, var) < 1.15


@pytest.mark.parametrize("name", ["posterior", "unipc"])
def test_exact_law_matches_the_moments_of_many_samples(name):
    """The impulse-probe law of a stochastic and a deterministic sampler against 4000 runs."""
    problem = ep.make_problem("blur", size=8)
    sde = IRSDE(max_sigma=25, T=20)
    net = ep.OptimalNoise(problem, sde)
    gen = torch.Generator().manual_seed(5)
    y = problem.degrade(problem.sample_prior(1, gen), gen)
    grid = sde.timesteps(4, "uniform")
    mean_law, var_law = ep.exact_law(net, sde, y, name, grid)
    runs = ep.sample(net, sde, y.expand(4000, -1, -1, -1).contiguous(), name, timesteps=grid,
                     generator=torch.Generator().manual_seed(6))  # fmt: skip
    mean_hat, var_hat = ep.dft_moments(runs)
    scale = float(var_law.mean().sqrt())
    assert float((mean_hat - mean_law).abs().max()) < 0.15 * scale
    assert torch.allclose(var_hat, var_law, rtol=0.15, atol=1e-3 * scale**2)
    # the distance of the law itself: below the sample estimate, which adds the floor
    post_mean, post_var = problem.posterior_mean_dft(y)[0, 0], problem.posterior_var()
    exact = ep.law_w2(mean_law, var_law, post_mean, post_var)
    assert 0 < exact < ep.w2_distance(runs, post_mean, post_var) + 1e-9


def test_cli_writes_table_json_and_plot(tmp_path):
    args = ["--out", str(tmp_path), "--size", "8", "--samples", "40", "--T", "10",
            "--reference-T", "20", "--nfe", "1", "2", "--spacings", "uniform"]  # fmt: skip
    assert ep.main(args) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert set(result["degradations"]) == set(ep.DEGRADATIONS)
    runs = result["degradations"]["noise"]["runs"]
    # every sampler that runs on IR-SDE (GOUB's mean-ode does not)
    assert {r["sampler"] for r in runs} == set(supported(IRSDE()))
    assert {r["nfe"] for r in runs} == {1, 2, 20}
    table = (tmp_path / "results.md").read_text()
    assert "| posterior |" in table and "20 (T=20)" in table
    assert all(r["w2_exact"] >= 0 for r in runs) and "exact distance" in table
