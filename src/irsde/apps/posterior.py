"""Exact-posterior benchmark: every registered sampler against the true posterior.

A Gaussian image prior with a ``1/f^2`` power spectrum (natural-image statistics),
linear-Gaussian degradations (additive noise; a circular Gaussian blur plus noise) and
the IR-SDE forward process from ``x0`` towards ``mu = y``. Everything is jointly Gaussian
and diagonal in the unitary DFT basis, so the optimal noise predictor ``E[eps | x_t, y]``
and the posterior ``p(x0 | y)`` are closed forms: nothing learned stands between the
sampler and the truth. The distance of ``K`` samples to the posterior is the 2-Wasserstein
distance between Gaussian fits (per DFT frequency, exact for this problem), as a per-pixel
RMS in 8-bit units; its floor is the same distance for ``K`` exact posterior samples.
Derivation and measured numbers: ``docs/exact-posterior.md``.

An application over the library, run by ``benchmarks/exact_posterior.py`` (every option)
and, with :func:`quick_settings`, as the ``irsde bench --posterior`` section.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..samplers import DEFAULT_SAMPLER, SAMPLERS, SPACINGS, sample
from ..sde import IRSDE

__all__ = [
    "DEFAULT_SAMPLER",
    "DEGRADATIONS",
    "EIGHT_BIT",
    "NFES",
    "QUICK_NFES",
    "QUICK_REFERENCE_T",
    "QUICK_SAMPLES",
    "SAMPLERS",
    "SPACINGS",
    "GaussianProblem",
    "OptimalNoise",
    "Settings",
    "Target",
    "dft",
    "dft_moments",
    "exact_law",
    "fewest_nfe",
    "gaussian_blur_transfer",
    "idft",
    "law_w2",
    "make_problem",
    "markdown",
    "measure",
    "plot",
    "power_spectrum",
    "quick_settings",
    "reference_distance",
    "run",
    "run_degradation",
    "run_sampler",
    "sample",
    "squared_frequency",
    "std_ratio",
    "sweep",
    "w2_distance",
    "white_dft",
    "write_results",
]

DEGRADATIONS: tuple[str, ...] = ("noise", "blur")
NFES: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50, 100)
QUICK_NFES: tuple[int, ...] = (1, 3, 10, 100)
#: ``--quick``: samples ``K`` and the reference SDE's ``T``
QUICK_SAMPLES = 200
QUICK_REFERENCE_T = 300
EIGHT_BIT = 255.0


# ------------------------------------------------------------------ DFT basis
def dft(x: Tensor) -> Tensor:
    """Unitary 2-D DFT over the last two axes, in complex128."""
    return torch.fft.fft2(x.double(), norm="ortho")


def idft(X: Tensor) -> Tensor:
    """Inverse of :func:`dft` (real part, float64)."""
    return torch.fft.ifft2(X, norm="ortho").real


def squared_frequency(size: int) -> Tensor:
    """``fx^2 + fy^2`` in cycles per image on the FFT grid, shape ``(size, size)``."""
    f = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)
    return f[:, None] ** 2 + f[None, :] ** 2


def power_spectrum(size: int, pixel_std: float) -> Tensor:
    """``1/f^2`` spectrum (DC given the power at ``|f| = 1``) scaled to a pixel std.

    With the unitary DFT a pixel's variance is the mean of the spectrum.
    """
    f2 = squared_frequency(size)
    f2[0, 0] = 1.0
    power = 1.0 / f2
    return power * (pixel_std**2 / power.mean())


def gaussian_blur_transfer(size: int, sigma: float) -> Tensor:
    """Transfer function of a circular Gaussian blur of std ``sigma`` pixels (real, <= 1)."""
    return torch.exp(-2 * math.pi**2 * sigma**2 * squared_frequency(size) / size**2)


def white_dft(n: int, size: int, generator: torch.Generator | None) -> Tensor:
    """DFT of white real noise: unit variance per frequency, conjugate symmetric."""
    return dft(torch.randn(n, 1, size, size, generator=generator, dtype=torch.float64))


# --------------------------------------------------------------- the problem
@dataclass(frozen=True)
class GaussianProblem:
    """Prior ``x0 ~ N(mean, C)`` with ``C`` diagonal in the DFT basis, and ``y = h * x0 + n``.

    ``power`` is ``C``'s spectrum, ``transfer`` the blur's (ones for pure noise),
    ``noise_std`` the std of the white noise ``n``; all in ``[0, 1]`` image units.
    """

    power: Tensor
    transfer: Tensor
    noise_std: float
    mean: float = 0.5

    @property
    def size(self) -> int:
        return self.power.shape[-1]

    def prior_mean_dft(self) -> Tensor:
        """DFT of the constant prior mean (only the DC coefficient is non-zero)."""
        out = torch.zeros_like(self.power, dtype=torch.complex128)
        out[0, 0] = self.mean * self.size
        return out

    def posterior_var(self) -> Tensor:
        """Per-frequency variance of ``p(x0 | y)``: ``1 / (1/P + h^2 / s_n^2)``."""
        return 1.0 / (1.0 / self.power + self.transfer**2 / self.noise_std**2)

    def posterior_mean_dft(self, y: Tensor) -> Tensor:
        """Per-frequency mean of ``p(x0 | y)``: ``V (M / P + h Y / s_n^2)``."""
        prior = self.prior_mean_dft() / self.power
        return self.posterior_var() * (prior + self.transfer * dft(y) / self.noise_std**2)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` prior images, ``(n, 1, size, size)`` float64."""
        return idft(self.prior_mean_dft() + self.power.sqrt() * white_dft(n, self.size, generator))

    def degrade(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``y = h * x0 + n`` (circular blur, then white noise)."""
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        return idft(self.transfer * dft(x0)) + self.noise_std * noise

    def sample_posterior(
        self, y: Tensor, n: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` exact samples of ``p(x0 | y)`` for one ``y`` of shape ``(1, 1, size, size)``."""
        white = white_dft(n, self.size, generator)
        return idft(self.posterior_mean_dft(y) + self.posterior_var().sqrt() * white)


def make_problem(
    degradation: str,
    size: int = 32,
    pixel_std: float = 50 / EIGHT_BIT,
    noise_std: float = 25 / EIGHT_BIT,
    blur_sigma: float = 1.5,
) -> GaussianProblem:
    """The ``"noise"`` or ``"blur"`` (circular Gaussian blur plus noise) problem."""
    power = power_spectrum(size, pixel_std)
    if degradation == "noise":
        transfer = torch.ones_like(power)
    elif degradation == "blur":
        transfer = gaussian_blur_transfer(size, blur_sigma)
    else:
        raise ValueError(f"unknown degradation {degradation!r}; choose {', '.join(DEGRADATIONS)}")
    return GaussianProblem(power=power, transfer=transfer, noise_std=noise_std)


class OptimalNoise:
    """The optimal noise predictor ``net(x_t, mu, t) = E[eps | x_t, y = mu]`` in closed form.

    Given ``y``, ``x_t - y = a_t (x0 - y) + s_t eps`` with ``x0 | y ~ N(m, V)`` per DFT
    frequency, so ``E[eps | x_t, y] = s_t / (a_t^2 V + s_t^2) (x_t - y - a_t (m - y))``.
    ``m - y = c0 + c1 y`` is linear in ``y`` (``c0 = V M / P``, ``c1 = V h / s_n^2 - 1``).
    ``a_t`` and ``s_t`` come from the SDE's own closed forms. The coefficients are computed
    in float64, the transforms in ``x_t``'s precision on the real-FFT half grid.
    """

    def __init__(self, problem: GaussianProblem, sde: Any) -> None:
        self.problem = problem
        self.sde = sde
        half = problem.size // 2 + 1
        var = problem.posterior_var()
        self.var = var[:, :half]
        self.c0 = (var * problem.prior_mean_dft() / problem.power)[:, :half]
        self.c1 = (var * problem.transfer / problem.noise_std**2 - 1)[:, :half]

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``a_t = exp(-thetabar_t)`` and ``s_t = sigma_bar_t``, shaped ``(B, 1, 1, 1)``."""
        ones = torch.ones(t.shape[0], 1, 1, 1, dtype=torch.float64)
        zeros = torch.zeros_like(ones)
        a = self.sde.mu_bar(ones, zeros, t)
        s = self.sde.q_sample(zeros, zeros, t, ones)
        return a, s

    def __call__(self, x_t: Tensor, mu: Tensor, t: Tensor) -> Tensor:
        if bool((t == t[0]).all()):  # one timestep: per-frequency coefficients only
            t = t[:1]
        a, s = self.coefficients(t)
        gain = s / (a**2 * self.var + s**2)
        k_0 = float(gain[0, 0, 0, 0] * a[0, 0, 0, 0] * self.c0[0, 0]) if t.shape[0] == 1 else None
        cdtype = torch.complex128 if x_t.dtype == torch.float64 else torch.complex64
        eps = torch.fft.rfft2(x_t - mu, norm="ortho")
        eps.mul_(gain.to(cdtype))
        eps.sub_((gain * a * self.c1).to(cdtype) * torch.fft.rfft2(mu, norm="ortho"))
        # the prior mean lives in the DC coefficient only
        if k_0 is None:
            eps[..., 0, 0] -= (gain * a)[:, :, 0, 0].to(cdtype) * self.c0[0, 0]
        else:
            eps[..., 0, 0] -= k_0
        return torch.fft.irfft2(eps, s=x_t.shape[-2:], norm="ortho")


# ------------------------------------------------------------------ distance
def dft_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Empirical per-frequency mean and variance ``E|X - mean|^2`` of ``(K, 1, H, W)`` samples."""
    X = dft(x)
    mean = X.mean(dim=0)
    var = (X - mean).abs().square().mean(dim=0)
    return mean, var


def w2_distance(samples: Tensor, mean_dft: Tensor, var: Tensor) -> float:
    """W2 between the samples' per-frequency Gaussian fit and ``N(mean, diag var)``.

    Per-pixel RMS (divided by ``sqrt(H W)``), in the samples' units. The mean term is
    ``|m_hat - m|^2`` summed over frequencies, the covariance term ``(sqrt(v_hat) -
    sqrt(v))^2``: the W2 between Gaussians with covariances diagonal in the same basis.
    """
    m_hat, v_hat = dft_moments(samples)
    sq = (m_hat - mean_dft).abs().square().sum() + (v_hat.sqrt() - var.sqrt()).square().sum()
    return math.sqrt(float(sq) / var.numel())


def exact_law(
    net: OptimalNoise, sde: Any, y: Tensor, name: str, grid: Sequence[int]
) -> tuple[Tensor, Tensor]:
    """Per-frequency mean and variance of a sampler's output for ``y``, without sampling.

    The sampler is affine in its noise draws (the prior draw and one per step) and the
    optimal network is linear and diagonal in the DFT basis, so one run with all draws
    zero gives the mean and one run per draw with a unit impulse at pixel 0 gives that
    draw's per-frequency gain (the impulse's DFT is flat); the variance is the sum of
    the squared gains. All runs are one batch of ``len(grid) + 2`` in ``y``'s dtype.
    """
    n = len(grid) + 2

    def impulse(j: int, like: Tensor) -> Tensor:
        z = torch.zeros_like(like)
        if 0 <= j < like.shape[0]:
            z[j, ..., 0, 0] = 1.0
        return z

    mu = y[:1].expand(n, -1, -1, -1).contiguous()
    x_T = sde.prior_sample(mu, impulse(1, mu))
    out = sample(net, sde, mu, sampler=name, timesteps=list(grid), x_T=x_T,
                 noise_fn=lambda i, like: impulse(i + 2, like))  # fmt: skip
    X = dft(out)[:, 0]
    side = math.sqrt(X.shape[-1] * X.shape[-2])
    gains = (X[1:] - X[:1]) * side
    return X[0], gains.abs().square().sum(dim=0)


def law_w2(mean: Tensor, var_out: Tensor, mean_dft: Tensor, var: Tensor) -> float:
    """W2 between ``N(mean, diag var_out)`` and ``N(mean_dft, diag var)`` (per-pixel RMS)."""
    sq = (mean - mean_dft).abs().square().sum() + (var_out.sqrt() - var.sqrt()).square().sum()
    return math.sqrt(float(sq) / var.numel())


def std_ratio(samples: Tensor, var: Tensor) -> float:
    """Pixel std of the samples (around their mean) over the posterior's pixel std."""
    _, v_hat = dft_moments(samples)
    return math.sqrt(float(v_hat.sum() / var.sum()))


# --------------------------------------------------------------- the sweep
@dataclass
class Settings:
    """What the benchmark runs; 8-bit noise levels, ``[0, 1]`` images.

    ``dtype`` is the samplers' state (as with a real network); the optimal network and
    the distances always compute in float64.
    """

    size: int = 32
    samples: int = 500
    max_sigma: float = 25.0
    T: int = 100
    reference_T: int = 1000
    nfes: tuple[int, ...] = NFES
    samplers: tuple[str, ...] = field(default_factory=lambda: tuple(SAMPLERS))
    spacings: tuple[str, ...] = SPACINGS
    degradations: tuple[str, ...] = DEGRADATIONS
    pixel_std: float = 50.0
    noise_std: float = 25.0
    blur_sigma: float = 1.5
    floor_repeats: int = 5
    seed: int = 0
    dtype: str = "float32"


def run_sampler(
    net: OptimalNoise, sde: Any, mu: Tensor, name: str, steps: int | None, spacing: str, seed: int
) -> Tensor:
    """``K`` samples from one sampler (``mu`` holds ``K`` copies of ``y``)."""
    generator = torch.Generator().manual_seed(seed)
    return sample(net, sde, mu, sampler=name, steps=steps, spacing=spacing, generator=generator)


def measure(samples: Tensor, mean_dft: Tensor, var: Tensor, **info: Any) -> dict[str, Any]:
    """One row of results, distances in 8-bit units."""
    return {**info, "w2": EIGHT_BIT * w2_distance(samples, mean_dft, var),
            "std_ratio": std_ratio(samples, var)}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One degraded image ``y`` as a batch ``mu`` of ``K`` copies, and its exact posterior."""

    mu: Tensor
    mean_dft: Tensor
    var: Tensor


def sweep(
    problem: GaussianProblem,
    sde: Any,
    target: Target,
    cfg: Settings,
    steps_list: Sequence[int | None],
    spacings: Sequence[str],
) -> list[dict[str, Any]]:
    """Rows for every supported sampler x spacing x steps on ``sde``.

    Spacings that give the same timestep grid (with today's spacings: 1, 2 and ``T`` steps) run once:
    the same grid and seed give the same samples.
    """
    net = OptimalNoise(problem, sde)
    rows: list[dict[str, Any]] = []
    done: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}
    for name in (n for n in cfg.samplers if SAMPLERS[n].supports(sde)):
        for spacing in spacings:
            for steps in steps_list:
                key = (name, tuple(sde.timesteps(steps, spacing)))
                if key not in done:
                    start = time.perf_counter()
                    out = run_sampler(net, sde, target.mu, name, steps, spacing, cfg.seed + 1)
                    done[key] = measure(out, target.mean_dft, target.var,
                                        seconds=time.perf_counter() - start)  # fmt: skip
                    law = exact_law(net, sde, target.mu, name, key[1])
                    done[key]["w2_exact"] = EIGHT_BIT * law_w2(*law, target.mean_dft, target.var)
                nfe = sde.T if steps is None else steps
                rows.append({"sampler": name, "spacing": spacing, "T": sde.T, "nfe": nfe,
                             **done[key]})  # fmt: skip
    return rows


def run_degradation(cfg: Settings, degradation: str) -> dict[str, Any]:
    """Floor, every sampler x spacing x NFE at ``T``, and the ``reference_T``-step runs."""
    problem = make_problem(
        degradation, cfg.size, cfg.pixel_std / EIGHT_BIT, cfg.noise_std / EIGHT_BIT, cfg.blur_sigma
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    y = problem.degrade(problem.sample_prior(1, gen), gen)
    mu = y.expand(cfg.samples, -1, -1, -1).to(getattr(torch, cfg.dtype)).contiguous()
    target = Target(mu, problem.posterior_mean_dft(y)[0, 0], problem.posterior_var())
    floors = [
        EIGHT_BIT
        * w2_distance(problem.sample_posterior(y, cfg.samples, gen), target.mean_dft, target.var)
        for _ in range(cfg.floor_repeats)
    ]
    sde = IRSDE(max_sigma=cfg.max_sigma, T=cfg.T)
    ref = type(sde)(**{**sde.config(), "T": cfg.reference_T})
    rows = sweep(problem, sde, target, cfg, cfg.nfes, cfg.spacings)
    rows += sweep(problem, ref, target, cfg, (None,), ("uniform",))
    return {
        "posterior_pixel_std": EIGHT_BIT * math.sqrt(float(target.var.mean())),
        "prior_pixel_std": EIGHT_BIT * math.sqrt(float(problem.power.mean())),
        "floor": {"mean": sum(floors) / len(floors), "runs": floors},
        "runs": rows,
    }


def run(cfg: Settings) -> dict[str, Any]:
    """The whole benchmark as a JSON-ready dict."""
    start = time.perf_counter()
    results = {d: run_degradation(cfg, d) for d in cfg.degradations}
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
    return {"settings": settings, "degradations": results,
            "seconds": time.perf_counter() - start}  # fmt: skip


# ------------------------------------------------------------------ reports
def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    exact = f" [{row['w2_exact']:.2f}]" if "w2_exact" in row else ""
    return f"{row['w2']:.2f} ({row['std_ratio']:.2f}){exact}"


def markdown(result: dict[str, Any]) -> str:
    """Tables per degradation and spacing: ``W2 (std ratio)`` per sampler and NFE."""
    cfg = result["settings"]
    lines = [
        f"W2 to the exact posterior, 8-bit units, {cfg['samples']} samples of "
        f"{cfg['size']}x{cfg['size']} images, T = {cfg['T']}, max_sigma = {cfg['max_sigma']:g}; "
        "in brackets the pixel std ratio sample / posterior; in square brackets the exact "
        "distance of the sampler's output law (K -> infinity, no estimator floor).",
    ]
    for name, deg in result["degradations"].items():
        floor = deg["floor"]["mean"]
        lines += ["", f"### {name}: posterior pixel std {deg['posterior_pixel_std']:.1f}, "
                  f"floor (exact samples) {floor:.2f}"]  # fmt: skip
        ref_T = cfg["reference_T"]
        for spacing in cfg["spacings"]:
            header = [str(n) for n in cfg["nfes"]] + [f"{ref_T} (T={ref_T})"]
            lines += ["", f"spacing `{spacing}`", "",
                      "| sampler | " + " | ".join(header) + " |",
                      "|---" * (len(header) + 1) + "|"]  # fmt: skip
            for sampler in cfg["samplers"]:
                cells = [_find(deg, sampler, spacing, cfg["T"], n) for n in cfg["nfes"]]
                cells.append(_find(deg, sampler, "uniform", ref_T, ref_T))
                if any(c is not None for c in cells):
                    lines.append(f"| {sampler} | " + " | ".join(map(_cell, cells)) + " |")
        lines += ["", *_reach_lines(deg, cfg)]
    return "\n".join(lines) + "\n"


def reference_distance(deg: dict[str, Any], cfg: dict[str, Any], field: str = "w2") -> float | None:
    """``field`` of the default sampler at ``T`` steps (the reference sampler's own distance)."""
    row = _find(deg, DEFAULT_SAMPLER, "uniform", cfg["T"], cfg["T"])
    return None if row is None or field not in row else row[field]


def fewest_nfe(
    deg: dict[str, Any], sampler: str, spacing: str, T: int, bound: float, field: str = "w2"
) -> int | None:
    """Fewest NFE (at ``T``) whose ``field`` distance is at most ``bound``; None if none is."""
    nfes = [r["nfe"] for r in deg["runs"]
            if (r["sampler"], r["spacing"], r["T"]) == (sampler, spacing, T)
            and r.get(field, math.inf) <= bound]  # fmt: skip
    return min(nfes, default=None)


def _reach_lines(deg: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """Fewest NFE per sampler and spacing at or below the reference, and within 20% of the floor."""
    ref = reference_distance(deg, cfg)
    if ref is None:
        return []
    floor = deg["floor"]["mean"]
    lines = [f"Fewest NFE run at or below `{DEFAULT_SAMPLER}` at {cfg['T']} steps ({ref:.2f}) / "
             f"within 20% of the floor ({1.2 * floor:.2f}):", "",
             "| sampler | " + " | ".join(cfg["spacings"]) + " |",
             "|---" * (len(cfg["spacings"]) + 1) + "|"]  # fmt: skip
    for sampler in cfg["samplers"]:
        cells = []
        for spacing in cfg["spacings"]:
            pair = (fewest_nfe(deg, sampler, spacing, cfg["T"], b) for b in (ref, 1.2 * floor))
            cells.append(" / ".join("-" if n is None else str(n) for n in pair))
        lines.append(f"| {sampler} | " + " | ".join(cells) + " |")
    exact_ref = reference_distance(deg, cfg, "w2_exact")
    if exact_ref is not None:
        lines += ["", f"Fewest NFE at or below the reference in exact distance ({exact_ref:.2f}):", "",
                  "| sampler | " + " | ".join(cfg["spacings"]) + " |",
                  "|---" * (len(cfg["spacings"]) + 1) + "|"]  # fmt: skip
        for sampler in cfg["samplers"]:
            found = (fewest_nfe(deg, sampler, sp, cfg["T"], exact_ref, "w2_exact")
                     for sp in cfg["spacings"])  # fmt: skip
            lines.append(f"| {sampler} | "
                         + " | ".join("-" if n is None else str(n) for n in found) + " |")  # fmt: skip
    return lines


def _find(deg: dict[str, Any], sampler: str, spacing: str, T: int, nfe: int) -> dict | None:
    for row in deg["runs"]:
        if (row["sampler"], row["spacing"], row["T"], row["nfe"]) == (sampler, spacing, T, nfe):
            return row
    return None


def plot(result: dict[str, Any], path: Path) -> bool:
    """Distance vs NFE per sampler (one panel per degradation and spacing); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cfg, degs = result["settings"], result["degradations"]
    fig, axes = plt.subplots(len(degs), len(cfg["spacings"]), squeeze=False,
                             figsize=(4 * len(cfg["spacings"]), 3.4 * len(degs)), sharey=True)  # fmt: skip
    for r, (name, deg) in enumerate(degs.items()):
        for c, spacing in enumerate(cfg["spacings"]):
            ax = axes[r][c]
            for sampler in cfg["samplers"]:
                pts = [(n, _find(deg, sampler, spacing, cfg["T"], n)) for n in cfg["nfes"]]
                pts = [(n, row["w2"]) for n, row in pts if row is not None]
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker="o", label=sampler)
            ax.axhline(deg["floor"]["mean"], color="k", ls="--", lw=1, label="floor")
            ref = reference_distance(deg, cfg)
            if ref is not None:
                label = f"{DEFAULT_SAMPLER}, {cfg['T']} steps"
                ax.axhline(ref, color="grey", ls=":", lw=1, label=label)
            ax.set(xscale="log", yscale="log", title=f"{name}, {spacing}", xlabel="NFE")
            if c == 0:
                ax.set_ylabel("W2 to posterior (8-bit)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def quick_settings(**changes: Any) -> Settings:
    """The ``--quick`` settings (``K = 200``, NFE 1/3/10/100, uniform, T_ref = 300), then ``changes``."""
    quick: dict[str, Any] = {
        "samples": QUICK_SAMPLES,
        "reference_T": QUICK_REFERENCE_T,
        "nfes": QUICK_NFES,
        "spacings": ("uniform",),
    }
    return Settings(**{**quick, **changes})


def write_results(result: dict[str, Any], folder: Path, plots: bool = True) -> list[Path]:
    """``results.json``, ``results.md`` and (with matplotlib) ``distance_vs_nfe.png`` in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "results.json", folder / "results.md"]
    paths[0].write_text(json.dumps(result, indent=2) + "\n")
    paths[1].write_text(markdown(result))
    if plots and plot(result, folder / "distance_vs_nfe.png"):
        paths.append(folder / "distance_vs_nfe.png")
    return paths
