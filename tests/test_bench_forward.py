"""The forward benchmark's reference networks are the reference's: they reproduce the
outputs its own code recorded (``tests/data/reference_*.safetensors``), so the
irsde-versus-reference timings in ``docs/benchmarks.md`` compare like with like."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest
import torch

from test_reference_family import fixture

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_forward", ROOT / "benchmarks/bench_forward.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "which", "params"),
    [
        ("unet", 0, {"nf": 4, "depth": 2}),
        (
            "refusion",
            1,
            {"width": 8, "enc_blocks": [1, 2], "middle_blocks": 2, "dec_blocks": [2, 1]},
        ),
    ],
)
def test_reference_forward_reproduces_the_reference_code(bench, name, which, params):
    state, cases = fixture(name)
    net = bench._reference_modules()[which](**params).eval()
    net.load_state_dict(state, strict=True)
    with torch.inference_mode():
        for case in cases:
            out = net(case["x"], case["mu"], case["t"].float())
            torch.testing.assert_close(out, case["out"], atol=1e-5, rtol=0)


def test_side_by_side_comparison_reports_times_and_agreement(bench):
    args = argparse.Namespace(repeat=2, bf16=False)
    r = bench.compare_one("unet", {"nf": 8, "depth": 2}, 16, args)
    assert r["max_abs_diff"]["irsde"] <= 1e-5
    assert len(r["times_s"]["reference"]) == len(r["times_s"]["irsde"]) == 2
    assert r["ratio"]["irsde"] == pytest.approx(r["median_s"]["irsde"] / r["median_s"]["reference"])


def test_refusion_nafnet_runs_channels_last_under_bf16_autocast():
    """Its modulated norms pass a float32 gain and a bf16 shift to one layer norm."""
    from irsde.nets import build_network

    net = build_network(
        "RefusionNAFNet", width=8, enc_blocks=[1, 1], middle_blocks=1, dec_blocks=[1, 1]
    )
    net = net.eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 12, 10)
    with torch.inference_mode():
        ref = net(x, x, 5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x, x, 5)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max() + 0.05
