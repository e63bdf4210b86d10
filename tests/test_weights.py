"""The embedded models: present for every task, small, self-describing, usable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from irsde.cli import main
from irsde.models import load_model
from irsde.restore import Restorer
from irsde.tasks import TASKS
from irsde.weights import available_models, default_model_path

REPO = Path(__file__).resolve().parents[1]


def test_every_task_has_a_small_self_describing_model():
    entries = {e.task: e for e in available_models()}
    assert set(entries) == set(TASKS)
    assert sum(e.size_bytes for e in entries.values()) < 50e6
    for task, e in entries.items():
        assert e.size_bytes < 5e6, task
        assert e.sampler and e.sampler["steps"] >= 1
        assert "psnr_y" in e.metrics and e.card.exists()
        assert default_model_path(task) == e.path


@pytest.mark.parametrize("task", sorted(TASKS))
def test_embedded_model_restores_a_small_image(task):
    rng = np.random.default_rng(0)
    img = rng.random((24, 20, 3)).astype(np.float32)
    out = Restorer(default_model_path(task), task=task).restore(img)
    scale = TASKS[task].scale
    assert out.shape == (24 * scale, 20 * scale, 3)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_embedded_models_predict_x0_through_the_parametrization_wrapper():
    from irsde.models import load_model
    from irsde.nets import X0Parametrization

    for e in available_models():
        net = load_model(e.path)
        cfg = net.irsde_config
        assert isinstance(net, X0Parametrization) and cfg.parametrization == "x0"
        assert cfg["arch_params"]["prediction"] == "x0" and cfg.arch == e.arch
        assert net.sde.config() == cfg.build_sde().config()
        assert not any(k.startswith("net.") for k in net.state_dict())


def test_models_command_lists_every_task(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(task in out for task in TASKS)


#: (task, degradation variant, dB the default setting must gain over the plain input /
#: bicubic) on a 96x96 crop of a held-out photo; far below the measured gains (see the
#: model cards)
MUST_GAIN = [
    ("denoise", "sigma25", 4.0),
    ("denoise", "gray-sigma25", 4.0),  # a gray photo (its noise gray too)
    ("sr4", "", 1.0),
    ("deblur", "gaussian2", 1.0),
    ("derain", "", 4.0),
    ("dehaze", "", 4.0),
    ("inpaint", "", 8.0),
]


def test_every_task_is_checked_on_a_held_out_photo():
    assert {task for task, _, _ in MUST_GAIN} == set(TASKS)


@pytest.mark.parametrize(("task", "variant", "gain"), MUST_GAIN)
def test_embedded_model_really_restores_a_held_out_photo(task, variant, gain):
    from irsde.apps.bench import degrade_case, quantize
    from irsde.degrade import bicubic_resize
    from irsde.io import read_image, sample_images_dir, to_uint8
    from irsde.metrics import psnr

    photo = read_image(sample_images_dir() / "coffee.png")[80:176, 80:176]
    case = degrade_case("coffee", photo, task, 0, variant)
    gt, lq = case.gt, quantize(case.lq)
    out = Restorer(default_model_path(task), task=task, device="cpu").restore_rgb(
        [lq], [case.mask]
    )[0][0]
    before = bicubic_resize(lq, gt.shape[:2]) if task == "sr4" else lq
    score = lambda im: psnr(to_uint8(im), to_uint8(gt), 4, True)  # noqa: E731
    assert score(out) > score(before) + gain, (score(out), score(before))


def deblur_row(deg: str, method: str, psnr: float) -> dict:
    """One row of the quality table for the deblurring task."""
    return {"task": "deblur", "degradation": deg, "method": method, "psnr_y": psnr,
            "ssim_y": 0.5, "psnr_rgb": psnr, "ssim_rgb": 0.5}  # fmt: skip


def test_model_card_status_counts_blind_and_non_blind_baselines(monkeypatch):
    # scripts/finalize_embedded.py: the model is blind; a baseline told the true kernel
    # (non-blind) is an upper bound, and the card says how the model fares against both
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    fin = pytest.importorskip("finalize_embedded")

    row = deblur_row

    rows = [
        row("gaussian2", "input", 26.0),
        row("gaussian2", "IR-SDE posterior 3 NFE", 29.2),
        row("gaussian2", "wiener", 29.4),
        row("gaussian2", "wiener-gaussian", 29.0),
        row("motion", "input", 20.9),
        row("motion", "IR-SDE posterior 3 NFE", 21.5),
        row("motion", "richardson-lucy", 25.5),
        row("motion", "unsharp-mask", 20.9),
    ]
    m = fin.summarize_quality(rows, "deblur")
    g, mo = m["by_degradation"]["gaussian2"], m["by_degradation"]["motion"]
    assert (g["best_classical"], g["best_blind"]) == ("wiener", "wiener-gaussian")
    assert (mo["best_classical"], mo["best_blind_psnr_y"]) == ("richardson-lucy", 20.9)
    assert m["baseline_psnr_y"] == pytest.approx(27.45)
    assert m["blind_baseline_psnr_y"] == pytest.approx(24.95)
    text = fin.verdict(m)
    assert "on 0 of 2 degradations" in text
    assert "not told the noise level or kernel: beats the best of them" in text
    assert "on every degradation tested (2)" in text


def test_card_reports_non_blind_methods_as_an_upper_reference(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    fin = pytest.importorskip("finalize_embedded")

    row = deblur_row

    rows = [
        row("gaussian2", "IR-SDE posterior 1 NFE", 29.8),
        row("gaussian2", "wiener", 29.4),
        row("gaussian2", "wiener-gaussian", 29.4),  # knowing the kernel gains nothing
        row("motion", "IR-SDE posterior 1 NFE", 22.1),
        row("motion", "richardson-lucy", 25.5),
        row("motion", "unsharp-mask", 20.9),
    ]
    note = fin.reference_note(fin.summarize_quality(rows, "deblur"))
    assert "upper reference, not the baseline" in note
    assert "motion: 3.40 dB behind richardson-lucy (true kernel), 1.20 dB ahead of" in note
    assert "gaussian2" not in note
    blind_only = [r for r in rows if r["method"] in ("IR-SDE posterior 1 NFE", "unsharp-mask")]
    assert fin.reference_note(fin.summarize_quality(blind_only, "deblur")) == ""


def test_compare_scores_candidates_and_baselines_on_unseen_photos(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    fin = pytest.importorskip("finalize_embedded")
    monkeypatch.setattr(fin, "UNSEEN_DIR", tmp_path)
    with pytest.raises(SystemExit, match="no photos"):
        fin.compare("denoise", [], 1, [])
    yy, xx = np.mgrid[0:40, 0:48] / 40.0
    smooth = np.stack([yy, xx, 0.5 * (yy + xx)], axis=-1).clip(0, 1)
    from irsde.io import write_image

    write_image(tmp_path / "ramp.png", smooth.astype(np.float32))
    pairs = fin.unseen_pairs("denoise", seeds=1)
    assert list(pairs) == ["sigma=15", "sigma=25", "sigma=50"]
    assert pairs["sigma=25"][0][0].shape == (40, 40, 3)  # a centre crop within the photo
    fin.compare("denoise", [], 1, ["nlm"])
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split(" | ")[0]: line.split(" | ")[1:] for line in lines if " | " in line}
    assert rows["model"] == ["sigma=15", "sigma=25", "sigma=50", "mean"]
    model = [float(v) for v in rows["src/irsde/weights/denoise.safetensors"]]
    nlm = [float(v) for v in rows[next(k for k in rows if k.startswith("nlm"))]]
    # both clean a smooth ramp far beyond its noisy input (under 30 dB at sigma 15)
    assert min(model[0], nlm[0]) > 30 and model[-1] == pytest.approx(np.mean(model[:3]), abs=2e-3)
    # --photos: another folder of unseen photos (the held-out Debian crops, say)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(SystemExit, match=r"no photos in .*other"):
        fin.compare("denoise", [], 1, [], photos=other)
    write_image(other / "a.png", smooth[:24, :24].astype(np.float32))
    write_image(other / "b.png", smooth[:32, :32].astype(np.float32))
    pairs = fin.unseen_pairs("denoise", seeds=1, photos=other)
    assert [gt.shape for gt, _ in pairs["sigma=15"]] == [(24, 24, 3), (32, 32, 3)]


def test_realistic_setting_is_the_lowest_swd_sample_and_is_stored(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    fin = pytest.importorskip("finalize_embedded")

    def r(sampler, spacing, nfe, psnr, swd, std=1.0):
        return {"task": "derain", "sampler": sampler, "spacing": spacing, "nfe": nfe,
                "psnr_y": psnr, "ssim_y": 0.8, "swd": swd, "swd_std": std}  # fmt: skip

    rows = [r("input", "", 0, 20, 10), r("posterior", "uniform", 1, 30, 20),
            r("posterior", "uniform", 2, 30, 20), r("unipc", "tuned", 5, 27, 45),
            r("unipc", "logsnr", 3, 28, 45.5), r("sde", "uniform", 20, 26, 30),
            {**r("unipc", "tuned", 5, 40, 1), "task": "sr4"}]  # fmt: skip
    # the input and the posterior-mean estimates (1-2 posterior steps) are no samples,
    # 20 NFE is over the realistic budget; within the lowest SWD's spread the higher PSNR wins
    pick = fin.choose_realistic(rows, "derain")
    assert (pick["sampler"], pick["spacing"], pick["nfe"]) == ("unipc", "logsnr", 3)
    with pytest.raises(SystemExit, match="dehaze"):
        fin.choose_realistic(rows, "dehaze")
    shipped = tmp_path / "derain.safetensors"
    shipped.write_bytes((REPO / "src/irsde/weights/derain.safetensors").read_bytes())
    card = (REPO / "src/irsde/weights/derain.md").read_text()
    shipped.with_suffix(".md").write_text(card)
    monkeypatch.setattr(fin, "weights_path", lambda task: shipped)
    (tmp_path / "pd.json").write_text(json.dumps({"rows": rows}))
    fin.store_realistic("derain", tmp_path / "pd.json")
    cfg = load_model(shipped).irsde_config
    before = load_model("derain").irsde_config
    assert cfg["sampler"]["realistic"] == {"name": "unipc", "steps": 3, "spacing": "logsnr"}
    assert {k: v for k, v in cfg["sampler"].items() if k != "realistic"} == {
        k: v for k, v in before["sampler"].items() if k != "realistic"}  # fmt: skip
    assert cfg["provenance"]["realistic_selection"]["chosen"]["swd"] == 45.5
    assert Restorer(shipped, mode="realistic", device="cpu").steps == 3
    # the card's Modes section says what is stored and why; the rest of the card is kept
    text = shipped.with_suffix(".md").read_text()
    modes = text[text.index("## Modes") : text.index("## ", text.index("## Modes") + 3)]
    assert "`unipc` at 3 NFE with `logsnr` spacing" in modes and "SWD 45.5" in modes
    assert text.count("## Modes") == 1
    before_modes = card[: card.index("## Modes")]
    assert text.startswith(before_modes) and text.endswith(card[card.index("## Notes") :])


# ---------------------------------------------------------------------------- names
def test_an_embedded_model_is_named_wherever_a_path_is(tmp_path, monkeypatch, caplog, capsys):
    import logging

    import irsde

    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="irsde"):
        net = irsde.load_model("denoise")
    assert net.irsde_config["task"] == "denoise"
    assert str(default_model_path("denoise")) in caplog.text  # says which file was used
    assert Restorer("sr4", device="cpu").task == "sr4"
    assert main(["info", "derain"]) == 0
    assert str(default_model_path("derain")) in capsys.readouterr().out
    img = np.full((8, 8, 3), 0.5, np.float32)
    from irsde.io import save_image

    save_image(tmp_path / "x.png", img)
    args = ["restore", "x.png", "-o", "out", "--model", "denoise", "--tile", "0", "--ensemble", "1"]
    assert main(args) == 0 and (tmp_path / "out/x.png").is_file()


def test_an_existing_file_wins_over_an_embedded_name(tmp_path, monkeypatch):
    from irsde.errors import ModelLoadError
    from irsde.models import load_model, save_model
    from irsde.nets import build_network
    from irsde.weights import resolve_model

    monkeypatch.chdir(tmp_path)
    net = build_network("ConditionalNAFNet", width=4, enc_blocks=[1], dec_blocks=[1])
    save_model(net, tmp_path / "denoise", task="derain")
    assert resolve_model("denoise") == Path("denoise")
    assert load_model("denoise").irsde_config["task"] == "derain"
    with pytest.raises(ModelLoadError, match=r"nothere .*embedded model: deblur, dehaze"):
        resolve_model("nothere")


def test_models_command_shows_files_cards_and_what_the_columns_mean(capsys):
    import json

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    weights = default_model_path("denoise").parent
    assert f"{weights}/NAME.safetensors" in out and f"{weights}/NAME.md" in out
    assert "(told)" in out and "(blind)" in out and "best classical" in out
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(Path(r["path"]).is_file() and Path(r["card"]).is_file() for r in rows)


def test_info_prints_a_readable_summary_and_json_has_everything(capsys):
    import json

    assert main(["info", "deblur"]) == 0
    text = capsys.readouterr().out
    assert max(map(len, text.splitlines())) <= 200
    assert "quality" in text and "best classical told the degradation 27.45" in text
    assert "by_degradation" not in text  # the raw dicts are for --json
    assert main(["info", "deblur", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "by_degradation" in info["provenance"]["metrics"]
    assert info["card"] == str(default_model_path("deblur").with_suffix(".md"))


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_shipped_model_files_hold_no_machine_paths():
    import json
    import re

    from safetensors import safe_open

    for e in available_models():
        with safe_open(str(e.path), framework="pt") as f:
            meta = json.loads(f.metadata()["irsde"])
        found = [s for s in _strings(meta) if re.match(r"(/|~|[A-Za-z]:[\\/])", s)]
        assert not found, (e.name, found[:3])
