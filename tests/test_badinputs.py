"""The bad-input corpus (tests/badinputs.py) through the reader, every CLI and the datasets.

Each bad case must give one line naming the file, the rest of the batch must go on,
the exit code must be 1, and output folders must hold exactly the good results: no
partial files, no temp files, pre-existing outputs untouched (without --overwrite).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from badinputs import (
    LOCKED,
    Case,
    bad_cases,
    bad_configs,
    deny_reading,
    good_cases,
    make_corpus,
    png16,
)
from irsde.cli import main
from irsde.data import PairedFolderDataset, SyntheticDataset
from irsde.errors import InputError
from irsde.io import load_image, save_image, to_uint8
from irsde.models import save_model
from irsde.nets import build_network


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = build_network(
        "ConditionalNAFNet", width=8, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(
        net,
        path,
        sde={"max_sigma": 10, "T": 100, "schedule": "cosine", "eps": 0.005},
        task="denoise",
        sampler={"name": "posterior", "steps": 2, "spacing": "uniform"},
    )
    return path


@pytest.fixture
def corpus(tmp_path, monkeypatch) -> tuple[Path, dict[str, Case]]:
    src = tmp_path / "in"
    cases = make_corpus(src)
    deny_reading(monkeypatch, src / LOCKED)
    return src, cases


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "error" in ln or "skipped" in ln]


def assert_each_bad_reported_once(err: str, cases: list[Case], folder: Path) -> None:
    assert "Traceback" not in err
    lines = error_lines(err)
    for case in cases:
        mine = [ln for ln in lines if str(folder / case.name) in ln]
        assert len(mine) == 1, (case.name, err)
        assert re.search(case.error, mine[0]), (case.name, mine[0])


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------ reader
def test_reader_accepts_good_and_refuses_bad_in_one_line(corpus):
    src, cases = corpus
    for case in cases.values():
        if case.ok:
            data = load_image(src / case.name)
            assert (data.height, data.width) == case.size, case.name
            assert np.isfinite(data.pixels).all()
        else:
            with pytest.raises(InputError, match=case.error) as err:
                load_image(src / case.name)
            msg = str(err.value)
            assert msg.startswith(str(src / case.name)) and "\n" not in msg, msg


def test_special_good_cases_decode_faithfully(corpus):
    src, _ = corpus
    assert load_image(src / "gray16.png").bit_depth == 16
    assert load_image(src / "palette_trns.png").alpha is not None
    assert load_image(src / "cmyk.jpg").pixels.shape[2] == 3
    np.testing.assert_array_equal(
        load_image(src / "link_to_good.png").pixels, load_image(src / "good.png").pixels
    )


_PEAK = """
import os, resource, sys
from irsde.errors import InputError
from irsde.io import load_image
for path in sys.argv[1:]:
    read, write = os.pipe()
    if os.fork() == 0:  # a fresh peak (Linux starts a child's peak at its resident size)
        rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        try:
            data = load_image(path)
            kept = data.pixels.nbytes + (0 if data.alpha is None else data.alpha.nbytes)
        except InputError:
            kept = 0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        os.write(write, f"{max(0, peak - rss)} {kept}\\n".encode())
        os._exit(0)
    os.wait()
    print(os.read(read, 100).decode(), end="")
"""


def peak_memory(*paths: Path) -> list[tuple[int, int]]:
    """Per file: (peak bytes of decoding above the resident size before, decoded bytes)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", _PEAK, *map(str, paths)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return [tuple(map(int, line.split())) for line in out.splitlines()]


def test_bombs_and_deep_images_decode_in_bounded_memory(corpus, tmp_path):
    """Every bomb of the corpus (64 MiB promised by nothing) costs a few MB, not 64 MiB,
    and a 16-bit RGBA PNG peaks within 2.5x its decoded arrays (it was 8x: 137 B/pixel)."""
    src, _ = corpus
    bombs = ["bomb16.png", "icc_bomb16.png", "bomb_zlib.tif", "bomb_deflate.tif"]
    side = 1000
    rgba = np.random.default_rng(0).integers(0, 65536, (side, side, 4), dtype=np.uint16)
    (tmp_path / "rgba16.png").write_bytes(png16(rgba))
    *cost, (deep, kept) = peak_memory(*(src / b for b in bombs), tmp_path / "rgba16.png")
    for name, (peak, _) in zip(bombs, cost, strict=True):
        assert peak < 16 << 20, (name, peak)
    assert kept == side * side * (3 * 4 + 2)
    assert deep < 2.5 * kept, (deep, kept)


# ------------------------------------------------------------------------ restore
def test_restore_corpus(corpus, model_file, tmp_path, capsys):
    src, cases = corpus
    out = tmp_path / "out"
    out.mkdir()
    (out / "good.png").write_bytes(b"pre-existing, must stay")
    args = ["restore", str(src), str(src / "animated.gif"), "-o", str(out)]
    rc = main([*args, "--model", str(model_file), "--steps", "2", "--device", "cpu"])
    captured = capsys.readouterr()
    assert rc == 1, captured.err
    assert_each_bad_reported_once(captured.err, bad_cases(cases), src)
    assert "skipped" in captured.err and "good.png" in captured.err
    good = good_cases(cases)
    assert listing(out) == sorted(c.name for c in good)  # no partial, no temp files
    assert (out / "good.png").read_bytes() == b"pre-existing, must stay"
    for case in good:
        if case.name != "good.png":
            data = load_image(out / case.name)
            assert (data.height, data.width) == case.size, case.name
    assert f"restored {len(good) - 1}, skipped 1, failed {len(bad_cases(cases))}" in captured.out


def test_restore_all_bad_exits_1_and_writes_nothing(corpus, model_file, tmp_path, capsys):
    src, cases = corpus
    out = tmp_path / "out"
    bad = [str(src / c.name) for c in bad_cases(cases)]
    rc = main(["restore", *bad, "-o", str(out), "--model", str(model_file), "--steps", "2"])
    assert rc == 1
    assert_each_bad_reported_once(capsys.readouterr().err, bad_cases(cases), src)
    assert not out.exists() or listing(out) == []


# ------------------------------------------------------------------------ degrade
def test_degrade_corpus(corpus, tmp_path, capsys):
    src, cases = corpus
    out = tmp_path / "out"
    out.mkdir()
    (out / "good.png").write_bytes(b"pre-existing, must stay")
    args = ["degrade", str(src), str(src / "animated.gif"), "-o", str(out), "--task", "denoise"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 1, err
    assert_each_bad_reported_once(err, bad_cases(cases), src)
    assert sum("good.png" in ln and "exists" in ln for ln in err.splitlines()) == 1
    assert listing(out) == sorted(f"{c.stem}.png" for c in good_cases(cases))
    assert (out / "good.png").read_bytes() == b"pre-existing, must stay"
    for case in good_cases(cases):
        if case.name != "good.png":
            assert load_image(out / f"{case.stem}.png").pixels.shape[:2] == case.size


@pytest.mark.parametrize("task", ["denoise", "derain", "deblur", "sr4", "inpaint", "dehaze"])
def test_degrade_tiny_images_every_task(tmp_path, task):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a", (1, 1)), ("b", (1, 9)), ("c", (9, 1)), ("d", (3, 5))):
        save_image(src / f"{name}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    assert main(["degrade", str(src), "-o", str(tmp_path / "out"), "--task", task]) == 0
    assert listing(tmp_path / "out") == ["a.png", "b.png", "c.png", "d.png"]


# ------------------------------------------------------------------------ eval
def _mirror(src: Path, cases: dict[str, Case], dst: Path) -> None:
    """Same stems as the listed cases: the decoded good images, random ones for the bad."""
    dst.mkdir()
    rng = np.random.default_rng(1)
    for case in cases.values():
        if not case.listed:
            continue
        if case.ok:
            img = to_uint8(load_image(src / case.name).rgb())
        else:
            img = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        save_image(dst / f"{case.stem}.png", img)


@pytest.mark.parametrize("bad_side", ["pred", "gt"])
def test_eval_corpus(corpus, tmp_path, capsys, bad_side):
    src, cases = corpus
    mirror = tmp_path / "mirror"
    _mirror(src, {k: c for k, c in cases.items() if c.name != LOCKED}, mirror)
    save_image(mirror / "locked.png", np.zeros((12, 16, 3), np.uint8))
    pred, gt = (src, mirror) if bad_side == "pred" else (mirror, src)
    grid, report = tmp_path / "grid", tmp_path / "r.json"
    rc = main(
        ["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(report), "--grid", str(grid)]
    )
    captured = capsys.readouterr()
    assert rc == 1, captured.err
    listed_bad = [c for c in bad_cases(cases) if c.listed]
    assert_each_bad_reported_once(captured.err, listed_bad, src)
    tiny = [c for c in good_cases(cases) if min(c.size) < 11]  # too small for SSIM
    for case in tiny:
        assert sum(case.stem in ln and "11x11" in ln for ln in error_lines(captured.err)) == 1
    scored = sorted(c.stem for c in good_cases(cases) if min(c.size) >= 11)
    data = json.loads(report.read_text())
    assert sorted(r["name"] for r in data["images"]) == scored
    assert len(data["errors"]) == len(listed_bad) + len(tiny)
    assert listing(grid) == sorted(f"{s}.png" for s in scored)
    assert data["mean"]["psnr_inf_count"] == len(scored)  # identical decodes


# ------------------------------------------------------------------------ datasets
def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_synthetic_dataset_skips_each_bad_file_with_one_warning(corpus, caplog):
    src, cases = corpus
    n_files = sum(c.listed and c.regular for c in cases.values() if c.name != "animated.gif")
    ds = SyntheticDataset(src, "denoise", crop=8, length=2 * n_files, seed=0)
    with caplog.at_level(logging.WARNING):
        items = [ds[i] for i in range(len(ds))]
    good_stems = {c.stem for c in good_cases(cases)}
    assert {it["name"] for it in items} <= good_stems
    assert all(it["gt"].shape == (3, 8, 8) and torch.isfinite(it["lq"]).all() for it in items)
    warnings = _warnings(caplog)
    for case in bad_cases(cases):
        if not case.listed:
            continue
        mine = [w for w in warnings if str(src / case.name) in w]
        assert len(mine) == 1, (case.name, warnings)
        assert re.search(case.error, mine[0]), mine[0]
        assert "\n" not in mine[0]


def test_paired_dataset_skips_bad_gt_files(corpus, tmp_path, caplog, monkeypatch):
    src, cases = corpus
    gt = tmp_path / "gt"
    shutil.copytree(src, gt, symlinks=True, ignore=shutil.ignore_patterns(LOCKED))
    shutil.copy(tmp_path / "in" / "good.png", gt / LOCKED)
    deny_reading(monkeypatch, src / LOCKED, gt / LOCKED)
    lq = tmp_path / "lq"
    _mirror(src, {k: c for k, c in cases.items() if c.regular and c.name != LOCKED}, lq)
    save_image(lq / "locked.png", np.zeros((12, 16, 3), np.uint8))
    with caplog.at_level(logging.WARNING):
        ds = PairedFolderDataset(gt, lq, crop=8, seed=0)
        items = [ds[i] for i in range(len(ds))]
    assert {it["name"] for it in items} <= {c.stem for c in good_cases(cases)}
    warnings = _warnings(caplog)
    for case in bad_cases(cases):
        if case.listed:
            assert sum(str(gt / case.name) in w for w in warnings) == 1, (case.name, warnings)


# ------------------------------------------------------------------------ model files
class _Evil:
    """Unpickling this creates a file: a stand-in for arbitrary code."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def bad_model_files(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Model files that must be refused: name -> (path, expected message fragment)."""
    import json as _json

    from safetensors.torch import load_file, save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = load_file(good)
    with open(good, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        config = _json.loads(_json.loads(f.read(n))["__metadata__"]["irsde"])
    out: dict[str, tuple[Path, str]] = {}

    evil = folder / "evil.pth"
    torch.save({"state_dict": dict(state), "hook": _Evil(folder / "pwned")}, evil)
    out["pickle"] = (evil, "refusing to load")

    def with_meta(name: str, params: dict, tensors=None) -> Path:
        path = folder / f"{name}.safetensors"
        cfg = {**config, "arch_params": {**config["arch_params"], **params}}
        save_file(tensors or dict(state), path, metadata={"irsde": _json.dumps(cfg)})
        return path

    out["wider"] = (with_meta("wider", {"width": 16}), "do not match the weights: width=16")
    out["deeper"] = (with_meta("deeper", {"enc_blocks": [10**6]}), "enc_blocks")
    nan = {k: v.clone() for k, v in state.items()}
    nan["intro.bias"][0] = float("nan")
    out["nan"] = (with_meta("nan", {}, nan), "non-finite")
    ints = {k: v.clone() for k, v in state.items()}
    ints["ending.bias"] = torch.zeros_like(ints["ending.bias"], dtype=torch.int64)
    out["int_weights"] = (with_meta("ints", {}, ints), "non-floating-point weights in ending.bias")

    def with_config(name: str, change: dict | None = None, text: str | None = None) -> Path:
        path = folder / f"{name}.safetensors"
        raw = text or _json.dumps({**config, **(change or {})})
        save_file(dict(state), path, metadata={"irsde": raw})
        return path

    sde = config["sde"]
    huge_t = with_config("huge_T", {"sde": {**sde, "T": 10**9}})
    out["huge_T"] = (huge_t, "T must be an integer in 1..100000")
    inf = with_config("inf_sigma", text=_json.dumps({**config, "sde": {**sde, "max_sigma": 1e400}}))
    out["inf_sigma"] = (inf, "Infinity is not a number JSON allows")
    big = with_config("big_sigma", {"sde": {**sde, "max_sigma": 1e30}})
    out["big_sigma"] = (big, "max_sigma must be in")
    deep = _json.dumps(config)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    out["deep"] = (with_config("deep", text=deep), "nested too deeply")
    out["provenance_str"] = (with_config("prov", {"provenance": "abc"}), "provenance")
    out["task_dict"] = (with_config("task_dict", {"task": {"a": 1}}), "task")
    out["task_int"] = (with_config("task_int", {"task": [1]}), "task")
    steps = {"sampler": {**config["sampler"], "steps": "abc"}}
    out["steps_abc"] = (with_config("steps_abc", steps), "steps must be a positive integer")
    data = good.read_bytes()
    for frac in (2, 10):
        cut = folder / f"cut{frac}.safetensors"
        cut.write_bytes(data[: len(data) // frac])
        out[f"truncated_1/{frac}"] = (cut, "corrupt or truncated")
    return out


@pytest.mark.parametrize("command", ["info", "convert", "restore"])
def test_bad_model_files_refused_by_every_cli_in_one_line(model_file, tmp_path, capsys, command):
    images = tmp_path / "in"
    images.mkdir()
    save_image(images / "a.png", np.zeros((12, 16, 3), np.uint8))
    for kind, (path, fragment) in bad_model_files(tmp_path / "models", model_file).items():
        out = tmp_path / f"out-{command}-{kind.replace('/', '_')}"
        argv = {
            "info": ["info", str(path)],
            "convert": ["convert", str(path), str(out / "m.safetensors"), "--task", "denoise"],
            "restore": ["restore", str(images), "-o", str(out), "--model", str(path)],
        }[command]
        assert main(argv) == 2, kind
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert "\n" not in err and err.startswith(f"irsde {command}: error:"), (kind, err)
        assert fragment in err and str(path) in err, (kind, err)
        assert not out.exists(), kind  # nothing written
    assert not (tmp_path / "models" / "pwned").exists()  # the pickle never ran


# ------------------------------------------------------------------------ training configs
@pytest.mark.parametrize("name", sorted(bad_configs()))
def test_bad_training_configs_are_one_line_exit_2(name, tmp_path, capsys):
    text, fragment = bad_configs()[name]
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert str(path) in err and fragment in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("var", "value"), [("WORLD_SIZE", "abc"), ("RANK", "-1"), ("LOCAL_RANK", "x")]
)
def test_bad_torchrun_environment_is_one_line(var, value, monkeypatch):
    from irsde.errors import ConfigError
    from irsde.train.distributed import env_dist_info

    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=f"{var}={value!r}"):
        env_dist_info()


def test_bad_max_pixels_environment_is_one_line(corpus, monkeypatch, capsys, model_file, tmp_path):
    src, _ = corpus
    monkeypatch.setenv("IRSDE_MAX_PIXELS", "abc")
    rc = main(
        ["restore", str(src / "good.png"), "-o", str(tmp_path / "o"), "--model", str(model_file)]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "IRSDE_MAX_PIXELS='abc'" in err, err


# ------------------------------------------------------------------------ flags
@pytest.mark.parametrize(
    ("command", "flags", "fragment"),
    [
        ("restore", ["--seed", "99999999999999999999"], "--seed: must be in 0.."),
        ("restore", ["--seed", "-1"], "--seed: must be in 0.."),
        ("degrade", ["--seed", "-5"], "--seed: must be in 0.."),
        ("restore", ["--device", "meta"], "cannot run on meta"),
        ("restore", ["--device", "cuda:0"], "CUDA is not available"),
        ("restore", ["--device", "mps"], "MPS is not available"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(
    command, flags, fragment, model_file, tmp_path, capsys
):
    if "cuda" in flags[-1] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    src = tmp_path / "in"
    src.mkdir()
    save_image(src / "a.png", np.zeros((12, 16, 3), np.uint8))
    out = tmp_path / "out"
    argv = [command, str(src), "-o", str(out), *flags]
    argv += ["--model", str(model_file)] if command == "restore" else ["--task", "denoise"]
    with pytest.raises(SystemExit) if "--seed" in flags else contextlib.nullcontext() as exited:
        rc = main(argv)
    rc = exited.value.code if exited else rc
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "Traceback" not in err and fragment in err.splitlines()[-1], err
    assert not out.exists()
