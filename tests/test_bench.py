"""``irsde bench`` on a tiny fresh model: JSON keys, tables and plots, in a few seconds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from irsde.cli import main
from irsde.models import save_model
from irsde.nets import build_network


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "denoise.safetensors"
    net = build_network(
        "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    sde = {"max_sigma": 25, "T": 6, "schedule": "cosine", "eps": 0.005}
    save_model(
        net, path, sde=sde, task="denoise", sampler={"name": "posterior", "steps": 2, "ensemble": 2}
    )
    return path


def test_bench_quick_writes_json_and_plots(tiny_model, tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "--quick", "--models", str(tiny_model), "--sizes", "16", "24"]
    argv += ["--crop", "24", "--nfe", "1", "2", "6", "-o", str(out), "--device", "cpu"]
    assert main(argv) == 0
    data = json.loads((out / "bench.json").read_text())
    assert {"environment", "settings", "tasks", "plots", "seconds"} <= data.keys()
    env = data["environment"]
    assert {"device", "torch_threads", "torch", "irsde"} <= env.keys()
    r = data["tasks"]["denoise"]
    assert r["model"]["params"] > 0
    assert [t["size"] for t in r["timing"]] == [16, 24]
    t = r["timing"][0]
    assert t["per_nfe_s"] > 0 and t["default"]["steps"] == 2 and t["reference"]["steps"] == 6
    assert t["peak_memory_bytes"] is not None
    assert {o["sampler"] for o in r["overhead"]} == {"posterior", "ode", "sde"}
    assert all(o["percent"] >= 0 for o in r["overhead"])
    rows = r["nfe_curves"]["rows"]
    assert {(x["sampler"], x["nfe"]) for x in rows} >= {("posterior", 1), ("ode", 6)}
    assert {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"} <= rows[0].keys()
    assert r["fewest_steps"]["nfe"] in (1, 2, 6)
    dq = r["default_quality"]  # the stored default, self-ensemble included
    assert (dq["steps"], dq["ensemble"], dq["nfe"]) == (2, 2, 4) and dq["psnr_y"] > 0
    assert t["default"]["ensemble"] == 2
    for p in data["plots"]:
        assert Path(p).stat().st_size > 0
    assert (out / "timing.png").stat().st_size > 0 and (out / "nfe_denoise.png").exists()
    text = capsys.readouterr().out
    assert "| denoise |" in text and "overhead" in text and "posterior 2 x2" in text


def test_bench_posterior_section_writes_json_markdown_and_files(tiny_model, tmp_path, monkeypatch):
    """``--posterior`` on tiny settings: the exact-posterior section in bench.json and bench.md."""
    import dataclasses

    import irsde.apps.bench as bench
    from irsde.samplers import supported
    from irsde.sde import IRSDE

    cfg = bench.posterior_settings()  # every IR-SDE sampler, uniform and tuned; then tiny
    # (NFE 10 = T: the reference run the "fewest NFE" lines compare with)
    tiny = dataclasses.replace(cfg, size=8, samples=40, T=10, reference_T=20, nfes=(1, 2, 10))
    monkeypatch.setattr(bench, "posterior_settings", lambda: tiny)
    out = tmp_path / "bench"
    argv = ["bench", "--quick", "--models", str(tiny_model), "--sizes", "16", "--nfe"]
    argv += [
        "--no-memory",
        "--overhead-steps",
        "2",
        "--posterior",
        "-o",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    post = json.loads((out / "bench.json").read_text())["posterior"]
    assert set(post["degradations"]) == {"noise", "blur"}
    for deg in post["degradations"].values():
        runs = deg["runs"]
        assert deg["floor"]["mean"] > 0 and {r["nfe"] for r in runs} == {1, 2, 10, 20}
        assert {r["spacing"] for r in runs} == {"uniform", "tuned"}
        assert {r["sampler"] for r in runs} == set(supported(IRSDE()))
        assert all(r["w2"] > 0 and r["w2_exact"] >= 0 for r in runs)
    assert (out / "posterior" / "results.json").is_file()
    assert (out / "posterior" / "distance_vs_nfe.png").stat().st_size > 0
    text = (out / "bench.md").read_text()
    assert "**exact posterior**" in text
    assert (out / "posterior" / "results.md").read_text().rstrip("\n") in text
    section = text[text.index("**exact posterior**") :]
    assert "### noise:" in section and "### blur:" in section and "floor (exact samples)" in section
    assert re.search(r"\| posterior \| [0-9.]+ \([0-9.]+\)", section)
    assert "Fewest NFE run at or below" in section and "spacing `tuned`" in section
    assert "in exact distance" in section


def test_bench_without_models_is_a_usage_error(tmp_path):
    assert main(["bench", "--model-dir", str(tmp_path), "--quick", "-o", str(tmp_path)]) == 2


def test_bench_curves_deterministic(tiny_model):
    import torch

    from irsde.apps.bench import degrade_case, heldout_images, nfe_curve
    from irsde.models import load_model

    net = load_model(tiny_model)
    imgs = heldout_images(crop=24)
    cases = [degrade_case(n, g, "denoise", 0, "sigma25") for n, g in imgs.items()]
    a = nfe_curve(net, "denoise", cases, torch.device("cpu"), (1, 3), ("posterior",), ("uniform",))
    b = nfe_curve(net, "denoise", cases, torch.device("cpu"), (1, 3), ("posterior",), ("uniform",))
    assert a == b


def test_quality_script_averages_over_seeds(tiny_model, tmp_path):
    import subprocess
    import sys

    import numpy as np

    from irsde.io import write_image

    repo = Path(__file__).resolve().parents[1]
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_image(photos / f"{name}.png", rng.random((24, 32, 3)).astype(np.float32))
    out, js = tmp_path / "q", tmp_path / "q.json"
    cmd = [sys.executable, str(repo / "benchmarks" / "quality.py"), "--tasks", "denoise"]
    cmd += ["--model", str(tiny_model), "--images", str(photos), "--out", str(out)]
    cmd += ["--seeds", "0", "1", "--json", str(js), "--md", str(tmp_path / "q.md")]
    cmd += ["--no-classical"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(js.read_text())["rows"]
    assert {r["degradation"] for r in rows} == {"sigma15", "sigma25", "sigma50", "gray-sigma25"}
    assert all(r["cases"] == 4 for r in rows)  # 2 photos x 2 seeds
    assert (out / "denoise" / "sigma25" / "seed1" / "input" / "b.png").exists()
    gray = out / "denoise" / "gray-sigma25" / "seed1"  # gray files, scored against gray photos
    for sub in ("input", "gt", "irsde-default"):
        assert Image.open(gray / sub / "b.png").mode == "L"
    noisy = {r["degradation"]: r["psnr_rgb"] for r in rows if r["method"] == "input"}
    assert abs(noisy["gray-sigma25"] - noisy["sigma25"]) < 1.5  # same noise, right reference
    assert "4 cases per row" in (tmp_path / "q.md").read_text()


def test_quality_script_labels_non_blind_baselines_and_tunes_the_blind_ones(tmp_path):
    import subprocess
    import sys

    import numpy as np

    from irsde.io import write_image

    pytest.importorskip("skimage")
    repo = Path(__file__).resolve().parents[1]
    photos = tmp_path / "photos"
    photos.mkdir()
    y, x = np.mgrid[0:40, 0:48] / 40.0
    img = np.stack([0.5 + 0.4 * np.sin(6 * x), 0.3 + 0.5 * y, 0.5 + 0.3 * np.cos(5 * y)], -1)
    write_image(photos / "a.png", np.clip(img, 0, 1).astype(np.float32))
    (tmp_path / "no-models").mkdir()
    js, md = tmp_path / "q.json", tmp_path / "q.md"
    cmd = [sys.executable, str(repo / "benchmarks" / "quality.py"), "--tasks", "deblur"]
    cmd += ["--model-dir", str(tmp_path / "no-models"), "--images", str(photos)]
    cmd += ["--out", str(tmp_path / "q"), "--seeds", "0", "--json", str(js), "--md", str(md)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {
        (r["degradation"], r["method"]): r["psnr_y"] for r in json.loads(js.read_text())["rows"]
    }
    # the grid of Gaussian PSF guesses holds the true sigma 2: its pick is at least as good
    assert rows["gaussian2", "wiener-gaussian"] >= rows["gaussian2", "wiener"] - 1e-6
    assert rows["gaussian2", "unsharp-mask"] > rows["gaussian2", "input"]
    text = md.read_text()
    assert "| wiener (true kernel) |" in text and "| wiener-gaussian |" in text


def test_universal_script_compares_one_model_with_each_task_model(tmp_path):
    import subprocess
    import sys

    import numpy as np

    from irsde.io import write_image

    sde = {"max_sigma": 10, "T": 6, "schedule": "cosine", "eps": 0.005}
    models = {}
    for name, task in (("u", ["derain", "dehaze"]), ("rain", "derain"), ("haze", "dehaze")):
        net = build_network(
            "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
        )
        models[name] = tmp_path / f"{name}.safetensors"
        save_model(net, models[name], sde=sde, task=task, sampler="posterior")
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "a.png", np.random.default_rng(0).random((24, 32, 3)).astype(np.float32))
    repo = Path(__file__).resolve().parents[1]
    md = tmp_path / "u.md"
    cmd = [sys.executable, str(repo / "benchmarks" / "universal.py"), str(models["u"])]
    cmd += ["--specific", f"derain={models['rain']}", f"dehaze={models['haze']}"]
    cmd += ["--seeds", "0", "--steps", "2", "--md", str(md), "--images", str(photos)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [
        line.split(" | ")[:3] for line in md.read_text().splitlines() if line.startswith("| de")
    ]
    assert [r[2] for r in rows] == ["input", "universal", "task-specific"] * 2
    bad = subprocess.run(
        [*cmd[:3], "--specific", f"sr4={models['rain']}"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "not a universal model for sr4" in bad.stderr


def test_bench_and_save_refuse_what_a_universal_model_cannot_do(tmp_path):
    from irsde.apps.bench import find_models
    from irsde.errors import ConfigError, UsageError

    net = build_network(
        "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    path = tmp_path / "u.safetensors"
    with pytest.raises(ConfigError, match="several tasks needs its SDE"):
        save_model(net, path, task=["derain", "dehaze"])
    save_model(net, path, task=["derain", "dehaze"], sde={"max_sigma": 10, "T": 6})
    with pytest.raises(UsageError, match="universal model \\(derain, dehaze\\)"):
        find_models([path])
