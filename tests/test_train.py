"""Training: config validation, LR schedules, overfitting, exact resume, kill -9, torchrun."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from irsde.cli import main
from irsde.errors import ConfigError
from irsde.train import load_config, parse_config
from irsde.train.config import TrainConfig
from irsde.train.trainer import Trainer, TrainingError, lr_lambda, train

REPO = Path(__file__).resolve().parents[1]

TINY_NET = {
    "arch": "ConditionalNAFNet",
    "params": {"width": 8, "enc_blocks": [1], "middle_blocks": 1, "dec_blocks": [1]},
}


def tiny_config(**over) -> dict:
    cfg = {
        "name": "tiny",
        "task": "denoise",
        "seed": 3,
        "sde": {"max_sigma": 30, "T": 20},
        "network": TINY_NET,
        "data": {
            "train": {
                "type": "synthetic",
                "source": "deadleaves",
                "crop": 16,
                "length": 16,
                "params": {"sigma": 25},
            },
            "batch_size": 2,
        },
        "optim": {"lr": 1e-3},
        "lr_schedule": {"type": "cosine", "warmup_steps": 2},
        "ema": {"decay": 0.9},
        "train": {
            "max_steps": 6,
            "log_every": 2,
            "val_every": 3,
            "ckpt_every": 2,
            "val_images": 1,
            "val_sampler": {"steps": 2},
        },
        "sampler": {"steps": 2},
    }
    for k, v in over.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


# ----------------------------------------------------------------- config
def test_config_errors_are_one_line(tmp_path):
    bad = [
        ({**tiny_config(), "epochs": 3}, "epochs: unknown key"),
        (tiny_config(data={"batch_size": "four"}), "data.batch_size"),
        (tiny_config(task="colorize"), "unknown task"),
        (tiny_config(optim={"type": "sgd"}), "optim.type"),
        (
            tiny_config(data={"train": {"type": "paired", "gt": "nowhere", "lq": "nowhere"}}),
            "folder not found",
        ),
        (tiny_config(data={"train": {"type": "paired", "gt": "x"}}), "both 'gt' and 'lq'"),
    ]
    for i, (raw, expected) in enumerate(bad):
        path = write_config(tmp_path / f"c{i}.yml", raw)
        with pytest.raises(ConfigError) as err:
            load_config(path)
        msg = str(err.value)
        assert expected in msg and str(path) in msg and "\n" not in msg
    (tmp_path / "broken.yml").write_text("task: [denoise\n")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_config(tmp_path / "broken.yml")
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "missing.yml")


def test_yaml_anchors_work_and_alias_bombs_are_refused(tmp_path):
    import yaml

    cfg = tiny_config()
    text = yaml.safe_dump(cfg).replace("sde:", "sde: &sde", 1)
    (tmp_path / "anchored.yml").write_text(text + "extra_sde_copy: *sde\n")
    with pytest.raises(ConfigError, match="extra_sde_copy"):  # the alias resolved fine
        load_config(tmp_path / "anchored.yml")
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    bomb += [
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    (tmp_path / "bomb.yml").write_text("\n".join(bomb) + "\ntask: denoise\n")
    with pytest.raises(ConfigError, match="aliases are expanded"):  # 9**9 values
        load_config(tmp_path / "bomb.yml")


def test_cli_reports_config_error_with_exit_2(tmp_path, capsys):
    path = write_config(tmp_path / "c.yml", {**tiny_config(), "typo_key": 1})
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "typo_key: unknown key" in err
    good = write_config(tmp_path / "good.yml", tiny_config())
    for flag, value in (("--max-steps", "0"), ("--time-budget", "0")):
        assert main(["train", str(good), "--out", str(tmp_path / "r"), flag, value]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and flag in err
    assert not (tmp_path / "r").exists()  # nothing written for a refused command


PHASES = REPO / "configs" / "embedded" / "phases.yml"


@pytest.mark.parametrize(
    "path", sorted(set((REPO / "configs").rglob("*.yml")) - {PHASES}), ids=lambda p: p.stem
)
def test_bundled_configs_are_valid(path):
    cfg = parse_config(
        yaml.safe_load(path.read_text()), str(path)
    )  # paths not checked: data may be absent
    assert isinstance(cfg, TrainConfig)
    assert cfg.sde_settings()["T"] >= 1


def test_embedded_phases_chain_their_runs(monkeypatch):
    # each shipped model's phases: the config names its run folder and starts from the
    # previous phase's weights, so scripts/train_embedded.py reproduces the chain
    from irsde.tasks import TASKS

    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    from train_embedded import load_phases

    table = yaml.safe_load(PHASES.read_text())
    assert set(table) == set(TASKS)
    for task in table:
        prev = None
        for phase in load_phases(task, PHASES):  # with another task's phases it starts from
            raw = yaml.safe_load((PHASES.parent / phase["config"]).read_text())
            cfg = parse_config(raw, phase["config"])
            assert cfg.task == phase.get("task", task) and cfg.name == phase["run"]
            assert phase.get("device", "cpu") in ("cpu", "cuda")
            init = raw["network"].get("init")
            if prev is None:
                assert init is None, phase
            else:
                assert Path(init).parts[-2:] == (prev, "final.safetensors"), phase
            prev = phase["run"]


def test_a_model_started_from_another_tasks_weights_lists_those_phases_first(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    from train_embedded import load_phases

    for name, init in (("a1", None), ("a2", "../runs/ra1/final.safetensors"),
                       ("b1", "../runs/ra1/final.safetensors")):  # fmt: skip
        (tmp_path / f"{name}.yml").write_text(yaml.safe_dump({"network": {"init": init}}))
    phases = tmp_path / "phases.yml"
    phases.write_text(
        "denoise: [{config: a1.yml, run: ra1}, {config: a2.yml, run: ra2}]\n"
        "deblur: [{config: b1.yml, run: rb1, from: denoise}]\n"
    )
    chain = load_phases("deblur", phases)
    assert [(p.get("task"), p["run"]) for p in chain] == [("denoise", "ra1"), (None, "rb1")]
    (tmp_path / "b1.yml").write_text(yaml.safe_dump({"network": {"init": "../runs/x/final"}}))
    with pytest.raises(SystemExit, match="starts from x, not a denoise phase"):
        load_phases("deblur", phases)
    phases.write_text(phases.read_text().replace("from: denoise", "from: deblur"))
    with pytest.raises(SystemExit, match="start from their own weights"):
        load_phases("deblur", phases)


def test_hole_loss_trains_inpainting_and_is_refused_elsewhere(tmp_path):
    cfg = tiny_config(
        task="inpaint",
        data={
            "train": {
                "type": "synthetic",
                "source": "deadleaves",
                "crop": 16,
                "length": 16,
                "deadleaves_bank": 3,  # crops of three pre-drawn images
            },
            "batch_size": 2,
        },
        loss={"type": "x0", "region": "holes"},
    )
    cfg["network"] = {
        "arch": "ConditionalNAFNet",
        "params": {**TINY_NET["params"], "prediction": "x0"},
    }
    summary = train(parse_config(cfg), tmp_path / "run")
    assert summary["steps"] == 6 and summary["nonfinite_skipped"] == 0
    with pytest.raises(ConfigError, match=r"loss\.region 'holes' needs task inpaint"):
        parse_config(tiny_config(loss={"type": "x0", "region": "holes"}), "bad.yml")


def test_universal_model_trains_on_several_tasks_and_restores_the_one_asked(tmp_path):
    from irsde.errors import UsageError
    from irsde.restore import Restorer

    data = {"type": "synthetic", "source": "deadleaves", "crop": 16, "length": 16}
    cfg = tiny_config(
        task=["derain", "inpaint", "sr4"],
        data={"train": {**data, "params": {"derain": {"density": 0.05}}}, "batch_size": 4},
    )
    summary = train(parse_config(cfg), tmp_path / "run")
    assert summary["steps"] == 6 and summary["nonfinite_skipped"] == 0
    model = tmp_path / "run" / "final.safetensors"
    with pytest.raises(UsageError, match=r"several tasks \(derain, inpaint, sr4\).*--task"):
        Restorer(model)
    img = np.random.default_rng(0).random((12, 8, 3)).astype(np.float32)
    assert Restorer(model, task="sr4").restore(img).shape == (48, 32, 3)
    no_sde = {k: v for k, v in tiny_config().items() if k != "sde"}
    for bad, msg in (
        (tiny_config(task=["derain", "derain"]), "two or more different names"),
        (tiny_config(task=["derain", "fog"]), "unknown task 'fog'"),
        ({**no_sde, "task": ["derain", "denoise"]}, "different reference SDEs"),
    ):
        with pytest.raises(ConfigError, match=msg):
            parse_config(bad, "bad.yml")


def test_train_embedded_script_chains_skips_and_needs_a_gpu_for_gpu_phases(tmp_path):
    # scripts/train_embedded.py on a phases file of two tiny phases (the second fine-tunes
    # the first), then again (both skipped), then a phase marked device: cuda
    runs = tmp_path / "runs"
    first = tiny_config(name="a", train={"max_steps": 4})
    second = tiny_config(name="b", train={"max_steps": 4})
    second["network"] = {**TINY_NET, "init": str(runs / "a" / "final.safetensors")}
    write_config(tmp_path / "a.yml", first)
    write_config(tmp_path / "b.yml", second)
    phases = tmp_path / "phases.yml"
    phases.write_text(
        yaml.safe_dump(
            {
                "denoise": [{"config": "a.yml", "run": "a"}, {"config": "b.yml", "run": "b"}],
                "sr4": [{"config": "a.yml", "run": "g", "device": "cuda"}],
            }
        )
    )
    script = [sys.executable, str(REPO / "scripts" / "train_embedded.py")]
    common = ["--train-only", "--phases", str(phases), "--runs", str(runs)]
    done = subprocess.run([*script, "denoise", *common], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (runs / "a" / "final.safetensors").exists() and (
        runs / "b" / "final.safetensors"
    ).exists()
    assert "initialised the network from" in (runs / "log-b.txt").read_text()
    again = subprocess.run([*script, "denoise", *common], capture_output=True, text=True)
    assert again.stdout.count("finished, skipped") == 2
    if not torch.cuda.is_available():
        gpu = subprocess.run([*script, "sr4", *common], capture_output=True, text=True)
        assert gpu.returncode != 0 and "trained on a GPU and none is here" in gpu.stderr
        assert not (runs / "g").exists()


def test_lr_schedules():
    cfg = TrainConfig.model_validate(
        tiny_config(
            lr_schedule={
                "type": "multistep",
                "milestones": [10, 20],
                "gamma": 0.5,
                "warmup_steps": 4,
            }
        )
    )
    f = lr_lambda(cfg)
    assert [f(s) for s in (0, 3, 4, 10, 25)] == [0.25, 1.0, 1.0, 0.5, 0.25]
    cfg = TrainConfig.model_validate(
        tiny_config(
            lr_schedule={"type": "cosine", "min_lr_ratio": 0.1, "warmup_steps": 0},
            train={"max_steps": 100},
        )
    )
    f = lr_lambda(cfg)
    assert (
        f(0) == pytest.approx(1.0) and f(50) == pytest.approx(0.55) and f(100) == pytest.approx(0.1)
    )


# --------------------------------------------------------------- training
def test_overfit_one_pair_loss_falls(tmp_path):
    rng = np.random.default_rng(0)
    gt = (rng.random((8, 8, 3)) * 255).astype(np.uint8).repeat(4, 0).repeat(4, 1)
    lq = np.clip(gt.astype(int) + rng.normal(0, 20, gt.shape), 0, 255).astype(np.uint8)
    for sub, img in (("GT", gt), ("LQ", lq)):
        (tmp_path / sub).mkdir()
        Image.fromarray(img).save(tmp_path / sub / "a.png")
    cfg = parse_config(
        tiny_config(
            data={
                "train": {
                    "type": "paired",
                    "gt": str(tmp_path / "GT"),
                    "lq": str(tmp_path / "LQ"),
                    "crop": None,
                    "augment": False,
                },
                "batch_size": 1,
            },
            lr_schedule={"type": "constant"},
            optim={"lr": 3e-3},
            train={"max_steps": 120, "log_every": 10, "val_every": 1000, "ckpt_every": 1000},
        )
    )
    summary = train(cfg, tmp_path / "run")
    rows = list(csv_rows(tmp_path / "run" / "metrics.csv"))
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:2])
    assert summary["steps"] == 120 and Path(summary["final_model"]).exists()


def csv_rows(path: Path):
    import csv

    with path.open() as f:
        yield from csv.DictReader(f)


def test_time_budget_shortens_the_run_and_its_lr_schedule(tmp_path):
    # a budget far below what 100k steps need: the run picks a reachable target after
    # calibrating, ends there, and the cosine schedule ends at its floor on that step
    cfg = parse_config(
        tiny_config(
            lr_schedule={"min_lr_ratio": 0.1},
            train={
                "max_steps": 100_000,
                "time_budget": 2.0,
                "calibration_steps": 4,
                "val_every": 100_000,
                "ckpt_every": 100_000,
                "log_every": 1,
            },
        )
    )
    trainer = Trainer(cfg, tmp_path / "run")
    summary = trainer.run()
    trainer.close()
    steps = summary["steps"]
    assert 14 < steps < 100_000
    assert trainer.state.budget_steps == steps == trainer.target_steps
    logged = [r for r in csv_rows(tmp_path / "run" / "metrics.csv") if r["lr"]]
    assert int(logged[-1]["step"]) == steps
    last_lr = float(logged[-1]["lr"])
    assert last_lr == pytest.approx(0.1 * 1e-3, rel=1e-6)
    # resuming a finished budgeted run keeps its target: nothing more to do
    again = Trainer(cfg, tmp_path / "run", resume=True)
    assert again.target_steps == steps
    again.close()


def test_run_outputs_and_exported_model(tmp_path):
    from irsde.models import load_model

    summary = train(parse_config(tiny_config()), tmp_path / "run")
    run = tmp_path / "run"
    for name in (
        "config.yml",
        "metrics.csv",
        "summary.json",
        "final.safetensors",
        "best.safetensors",
        "curves.png",
    ):
        assert (run / name).exists(), name
    assert any((run / "tb").iterdir())
    net = load_model(run / "final.safetensors")
    assert net.irsde_config["task"] == "denoise" and net.irsde_config["sde"]["T"] == 20
    assert net.irsde_config["provenance"]["trained_steps"] == 6
    assert summary["best_val_psnr"] is not None
    assert summary["device"].startswith("CPU, ")  # where the steps were taken, for model cards


def test_best_checkpoint_follows_psnr_y_not_rgb_psnr(tmp_path, monkeypatch):
    # validations at steps 3 and 6 (one image each): RGB PSNR prefers step 3, PSNR-Y
    # (4-pixel border, the metric of every report) step 6; best.safetensors is step 6's
    import irsde.train.trainer as trainer_module
    from irsde.metrics import PAPER_CROP_BORDER, psnr, psnr_y
    from irsde.models import load_model

    rgb, luma = iter([20.0, 15.0]), iter([10.0, 12.0])
    monkeypatch.setattr(trainer_module, "psnr", lambda a, b: next(rgb))
    monkeypatch.setattr(trainer_module, "psnr_y", lambda a, b: next(luma))
    summary = train(parse_config(tiny_config()), tmp_path / "run")
    best = load_model(tmp_path / "run" / "best.safetensors").irsde_config["provenance"]
    assert best["trained_steps"] == 6
    assert best["validation"]["val_psnr_y"] == 12.0 and best["validation"]["val_psnr"] == 15.0
    assert summary["best_val_psnr_y"] == 12.0 and summary["best_val_psnr"] == 15.0
    rows = [r for r in csv_rows(tmp_path / "run" / "metrics.csv") if r["val_psnr_y"]]
    assert [(r["val_psnr"], r["val_psnr_y"]) for r in rows] == [("20.0", "10.0"), ("15.0", "12.0")]
    # the metric is the paper convention: Y channel, 4-pixel border
    a = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert psnr_y(a, b) == psnr(a, b, crop_border=PAPER_CROP_BORDER, y_channel=True)
    assert PAPER_CROP_BORDER == 4


def test_resume_equals_straight_run_bitwise(tmp_path):
    cfg = parse_config(tiny_config())
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "split", max_steps=3)
    train(cfg, tmp_path / "split", resume=True)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    straight_log = {
        r["step"]: r["loss"] for r in csv_rows(tmp_path / "straight" / "metrics.csv") if r["loss"]
    }
    split_log = {
        r["step"]: r["loss"] for r in csv_rows(tmp_path / "split" / "metrics.csv") if r["loss"]
    }
    # logged losses are averages since the last log: equal except across the resume (step 4)
    assert {k: v for k, v in straight_log.items() if k != "4"}.items() <= split_log.items()


def test_existing_run_needs_resume_and_bad_out_is_clear(tmp_path):
    cfg = parse_config(tiny_config(train={"max_steps": 2, "ckpt_every": 1}))
    train(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="nothing to resume"):
        Trainer(cfg, tmp_path / "fresh", resume=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot write to the run folder"):
        Trainer(cfg, blocker / "run")


def test_nonfinite_losses_are_skipped_then_stop(tmp_path, monkeypatch):
    cfg = parse_config(tiny_config(train={"max_steps": 50, "max_nonfinite": 3, "ckpt_every": 1}))
    trainer = Trainer(cfg, tmp_path / "run")
    real = trainer._loss
    calls = {"n": 0}

    def flaky(batch):
        calls["n"] += 1
        loss = real(batch)
        return loss * float("nan") if calls["n"] == 2 or calls["n"] > 4 else loss

    monkeypatch.setattr(trainer, "_loss", flaky)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(TrainingError, match="non-finite for 3 consecutive steps"):
        trainer.run()
    assert trainer.state.nonfinite_total == 4  # one isolated skip, then three in a row
    ck = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
    assert any(not torch.equal(before[k], ck["model"][k]) for k in before)
    trainer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "irsde", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_kill_9_then_resume_matches_uninterrupted(tmp_path):
    cfg_path = write_config(
        tmp_path / "c.yml",
        tiny_config(train={"max_steps": 150, "ckpt_every": 3, "val_every": 1000}),
    )  # long enough that the kill lands mid-run on an idle machine too
    straight = _cli("train", str(cfg_path), "--out", str(tmp_path / "straight"), "--no-progress")
    assert straight.wait(timeout=240) == 0, straight.stdout.read()

    proc = _cli("train", str(cfg_path), "--out", str(tmp_path / "killed"), "--no-progress")
    ckpt = tmp_path / "killed" / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = torch.load(ckpt, weights_only=True)["state"]["step"]
    assert 0 < step < 150
    resumed = _cli(
        "train", str(cfg_path), "--out", str(tmp_path / "killed"), "--resume", "--no-progress"
    )
    assert resumed.wait(timeout=240) == 0, resumed.stdout.read()
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "killed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_torchrun_two_processes_gloo(tmp_path):
    cfg_path = write_config(
        tmp_path / "c.yml", tiny_config(train={"max_steps": 4, "ckpt_every": 2, "val_every": 100})
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "irsde",
        "train",
        str(cfg_path),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 4
    sums = summary["param_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    ck = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert len(ck["rng"]["generators"]) == 2


def test_fine_tune_from_model_file(tmp_path):
    train(parse_config(tiny_config(train={"max_steps": 2})), tmp_path / "a")
    init = tmp_path / "a" / "final.safetensors"
    cfg = parse_config(tiny_config(network={**TINY_NET, "init": str(init)}, train={"max_steps": 1}))
    trainer = Trainer(cfg, tmp_path / "b")
    from irsde.models import load_model

    ref = load_model(init).state_dict()
    got = trainer.model.state_dict()
    assert all(torch.equal(ref[k].float(), got[k].float()) for k in ref)
    trainer.close()
    bad = tiny_config(
        network={"arch": "ConditionalNAFNet", "params": {"width": 12}, "init": str(init)}
    )
    with pytest.raises(Exception, match="do not match"):
        Trainer(parse_config(bad), tmp_path / "c")
    with pytest.raises(ConfigError, match="model file not found"):
        parse_config(
            tiny_config(network={**TINY_NET, "init": "nowhere.safetensors"}), "c.yml", tmp_path
        )


def test_fine_tune_grows_a_shallower_network(tmp_path):
    train(parse_config(tiny_config(train={"max_steps": 2})), tmp_path / "a")
    init = tmp_path / "a" / "final.safetensors"
    deeper = {"width": 8, "enc_blocks": [2], "middle_blocks": 3, "dec_blocks": [1]}
    grow = {"arch": "ConditionalNAFNet", "params": deeper, "init": str(init), "init_grow": True}
    trainer = Trainer(
        parse_config(tiny_config(network=grow, train={"max_steps": 1})), tmp_path / "b"
    )
    from irsde.models import load_model

    old = load_model(init).float()
    x, mu = torch.rand(2, 1, 3, 16, 16)
    with torch.no_grad():  # the added blocks are identities: the same function as before
        torch.testing.assert_close(trainer.model(x, mu, 7), old(x, mu, 7), atol=1e-5, rtol=0)
    trainer.close()
    narrower = {**grow, "params": {**deeper, "width": 12}}
    with pytest.raises(ConfigError, match="not a shallower network of the same widths"):
        Trainer(parse_config(tiny_config(network=narrower)), tmp_path / "c")


def _damage_missing(ck):
    del ck["optimizer"]


def _damage_shape(ck):
    k = next(iter(ck["model"]))
    ck["model"][k] = torch.zeros(3, 1, 7)


def _damage_rng(ck):
    ck["rng"]["torch"] = torch.zeros(5, dtype=torch.uint8)


def _damage_python_rng(ck):
    ck["rng"]["python"] = [3, "abc"]


def _damage_unknown(ck):
    ck["surprise"] = 1


def _damage_state_field(ck):
    ck["state"]["surprise"] = 1


@pytest.mark.parametrize(
    "damage",
    [
        _damage_missing,
        _damage_shape,
        _damage_rng,
        _damage_python_rng,
        _damage_unknown,
        _damage_state_field,
    ],
)
def test_a_damaged_checkpoint_is_one_line_naming_it(tmp_path, damage):
    cfg = parse_config(tiny_config(train={"max_steps": 1, "ckpt_every": 1, "val_every": 100}))
    train(cfg, tmp_path / "run")
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    ck = torch.load(last, weights_only=True)
    damage(ck)
    torch.save(ck, last)
    with pytest.raises(ConfigError) as exc:
        Trainer(cfg, tmp_path / "run", resume=True)
    msg = str(exc.value)
    assert str(last) in msg and "\n" not in msg and "checkpoint" in msg


def test_checkpoints_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        from irsde.train.checkpoint import save_checkpoint

        save_checkpoint({"state": {}}, tmp_path / "c" / "last.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "c" / "last.pt").stat().st_mode) == 0o644
