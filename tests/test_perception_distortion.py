"""Smoke test of benchmarks/perception_distortion.py on a tiny model and two tiny photos."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from irsde.io import write_image
from irsde.models import save_model
from irsde.nets import build_network

pytest.importorskip("matplotlib")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "perception_distortion.py"


@pytest.fixture(scope="module")
def pd():
    spec = importlib.util.spec_from_file_location("perception_distortion", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def setup(tmp_path):
    model = tmp_path / "denoise.safetensors"
    net = build_network(
        "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    save_model(net, model, sde={"max_sigma": 25, "T": 6, "schedule": "cosine", "eps": 0.005},
               task="denoise", sampler={"name": "posterior", "steps": 1})  # fmt: skip
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_image(photos / f"{name}.png", rng.random((64, 64, 3)).astype(np.float32))
    return model, photos


def test_rows_table_and_plot(pd, setup, tmp_path, one_thread):
    model, photos = setup
    js, md, png = tmp_path / "pd.json", tmp_path / "pd.md", tmp_path / "img" / "pd.png"
    argv = ["--tasks", "denoise", "--model", str(model), "--images", str(photos), "--crop", "0"]
    argv += ["--swd-seeds", "0", "1", "--json", str(js), "--md", str(md), "--plot", str(png)]
    assert pd.main(argv) == 0
    rows = json.loads(js.read_text())["rows"]
    # NFE above T = 6 is capped and run once: input + posterior 1 2 5 6, unipc 3 (logsnr)
    # 5 6 (tuned), sde 6
    got = [(r["sampler"], r["nfe"]) for r in rows]
    assert got == [("input", 0), ("posterior", 1), ("posterior", 2), ("posterior", 5),
                   ("posterior", 6), ("unipc", 3), ("unipc", 5), ("unipc", 6),
                   ("sde", 6)]  # fmt: skip
    assert all(r["variant"] == "sigma25" for r in rows)
    assert all(np.isfinite(r["swd"]) and r["swd"] > 0 and r["swd_std"] >= 0 for r in rows)
    text = md.read_text()
    assert "posterior uniform 1 (posterior-mean estimate)" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same table again from the JSON, without measuring
    md2 = tmp_path / "pd2.md"
    assert pd.main(["--rows-from", str(js), "--md", str(md2)]) == 0
    assert md2.read_text().splitlines()[2:] == text.splitlines()[2:]


def test_swd_of_a_set_with_itself_is_zero(pd):
    rng = np.random.default_rng(1)
    imgs = [rng.random((64, 64, 3)).astype(np.float32) for _ in range(2)]
    assert pd.swd_stats(imgs, imgs, [0, 1]) == (0.0, 0.0)
    other = [rng.random((64, 64, 3)).astype(np.float32) for _ in range(2)]
    assert pd.swd_stats(other, imgs, [0, 1])[0] > 0


def test_model_needs_one_task(pd, setup):
    with pytest.raises(SystemExit, match="exactly one --tasks"):
        pd.main(["--model", str(setup[0])])
