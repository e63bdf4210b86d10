"""Model files: reference .pth checkpoints, safetensors round trips, refusals, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from irsde.cli import main
from irsde.errors import ConfigError, ModelLoadError
from irsde.models import load_model, read_model_file, save_model
from irsde.nets import ConditionalUNet, build_network
from irsde.tasks import get_task

KEYS_JSON = Path(__file__).resolve().parents[2] / "shared" / "specs" / "official-unet-keys.json"
TINY_UNET = {"in_nc": 3, "out_nc": 3, "nf": 8, "depth": 3}
TINY_NAF = {
    "in_nc": 3,
    "out_nc": 3,
    "width": 8,
    "enc_blocks": [2, 1],
    "middle_blocks": 2,
    "dec_blocks": [1, 3],
    "dw_expand": 2,
    "ffn_expand": 2,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def net_of(arch: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_network(arch, **(TINY_UNET if arch == "ConditionalUNet" else TINY_NAF)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))  # no all-zero / all-one tensors
    return net


def forward(net: torch.nn.Module, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mu = torch.rand(2, 3, 21, 18, generator=g)
    x_t = mu + 0.1 * torch.randn(mu.shape, generator=g)
    with torch.inference_mode():
        return net(x_t, mu, torch.tensor([4, 77]))


def assert_same_weights(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    got = net.state_dict()
    assert set(got) == set(state)
    for k, v in state.items():
        assert got[k].dtype == torch.float32
        assert torch.equal(got[k], v.float()), k


# ----------------------------------------------------------- reference checkpoints
@pytest.fixture(scope="module")
def reference_state() -> dict[str, torch.Tensor]:
    """Random tensors with exactly the shapes of the reference deraining checkpoint."""
    if KEYS_JSON.exists():
        shapes = json.loads(KEYS_JSON.read_text())["keys"]
    else:  # the same listing, from our module (its equality is checked in test_nets)
        with torch.device("meta"):
            shapes = {k: list(v.shape) for k, v in ConditionalUNet().state_dict().items()}
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


@pytest.mark.parametrize("layout", ["plain", "module-prefix-in-state_dict"])
def test_full_reference_checkpoint_loads_strictly(tmp_path, reference_state, layout):
    path = tmp_path / "derain.pth"
    if layout == "plain":
        torch.save(reference_state, path)
    else:
        torch.save(
            {"state_dict": {"module." + k: v for k, v in reference_state.items()}, "iter": 7}, path
        )
    net = load_model(path)
    cfg = net.irsde_config
    assert cfg["arch"] == "ConditionalUNet"
    assert cfg["arch_params"] == {"in_nc": 3, "out_nc": 3, "nf": 64, "depth": 4}
    assert cfg["source"] == "reference-pth" and cfg["sde"] is None and cfg["task"] is None
    assert not net.training
    assert_same_weights(net, reference_state)


@pytest.mark.parametrize("wrapper", ["params", "model", None])
@pytest.mark.parametrize("arch", ["ConditionalUNet", "ConditionalNAFNet"])
def test_small_checkpoints_infer_their_architecture(tmp_path, arch, wrapper):
    net = net_of(arch)
    state = {"module." + k: v for k, v in net.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({wrapper: state} if wrapper else state, path)
    loaded = load_model(path, task="deblur")
    cfg = loaded.irsde_config
    assert cfg["arch"] == arch
    assert cfg["arch_params"] == (TINY_UNET if arch == "ConditionalUNet" else TINY_NAF)
    assert cfg["task"] == "deblur" and cfg["sde"] == get_task("deblur").sde
    assert_same_weights(loaded, net.state_dict())
    torch.testing.assert_close(forward(loaded), forward(net), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------- safetensors
@pytest.mark.parametrize("arch", ["ConditionalUNet", "ConditionalNAFNet"])
def test_safetensors_round_trip(tmp_path, arch):
    net = net_of(arch)
    path = save_model(
        net,
        tmp_path / "sub" / "m.safetensors",
        sde={"max_sigma": 30, "T": 50, "schedule": "cosine", "eps": 0.005},
        task="sr4",
        sampler={"name": "posterior", "steps": 10, "spacing": "quadratic"},
        provenance={"run": "unit-test"},
    )
    assert [p.name for p in path.parent.iterdir()] == ["m.safetensors"]  # no temp files left
    loaded = load_model(path)
    cfg = loaded.irsde_config
    assert cfg["arch"] == arch and cfg["arch_params"] == net.arch_params
    assert cfg["sde"] == {"max_sigma": 30, "T": 50, "schedule": "cosine", "eps": 0.005}
    assert cfg["task"] == "sr4" and cfg["source"] == "safetensors"
    assert cfg["sampler"] == {
        "name": "posterior",
        "steps": 10,
        "spacing": "quadratic",
        "ensemble": 1,
    }
    assert cfg["provenance"]["run"] == "unit-test" and "irsde_version" in cfg["provenance"]
    assert cfg["task_params"] == {}
    assert_same_weights(loaded, net.state_dict())
    torch.testing.assert_close(forward(loaded), forward(net), atol=1e-5, rtol=1e-5)


def test_half_precision_files(tmp_path):
    net = net_of("ConditionalNAFNet")
    full = save_model(net, tmp_path / "full.safetensors")
    half = save_model(net, tmp_path / "half.safetensors", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    state, cfg = read_model_file(half)
    assert {v.dtype for v in state.values()} == {torch.float16} and cfg["dtype"] == "float16"
    loaded = load_model(half)
    assert_same_weights(loaded, {k: v.half() for k, v in net.state_dict().items()})
    assert (forward(loaded) - forward(net)).abs().max() < 1e-2


def test_save_replaces_atomically_and_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(net_of("ConditionalUNet", seed=1), path)
    before = path.read_bytes()
    bad = net_of("ConditionalUNet", seed=2)
    with torch.no_grad():
        bad.final_conv.bias[0] = float("nan")
    with pytest.raises(ConfigError, match=r"final_conv\.bias"):
        save_model(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    save_model(net_of("ConditionalUNet", seed=3), path)
    assert path.read_bytes() != before


# ---------------------------------------------------------------------- refusals
class _Evil:
    """Unpickling this creates a file: a stand-in for arbitrary code."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _EvilOpen(_Evil):
    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("cls", [_Evil, _EvilOpen])
def test_malicious_pickle_is_refused_without_running(tmp_path, cls):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    state = dict(net_of("ConditionalUNet").state_dict())
    torch.save({"state_dict": state, "hook": cls(marker)}, path)
    assert not marker.exists()
    with pytest.raises(ModelLoadError, match=r"refusing to load .*evil\.pth") as err:
        load_model(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(ModelLoadError, match=r"not found: .*nothing\.pth"):
        load_model(tmp_path / "nothing.pth")
    net = net_of("ConditionalNAFNet")
    pth, st = tmp_path / "a.pth", tmp_path / "a.safetensors"
    torch.save(net.state_dict(), pth)
    save_model(net, st)
    for src in (pth, st):
        data = src.read_bytes()
        for cut in (len(data) // 2, 4):
            bad = tmp_path / f"cut{cut}{src.suffix}"
            bad.write_bytes(data[:cut])
            with pytest.raises(ModelLoadError, match=f"cannot read .*{bad.name}") as err:
                load_model(bad)
            assert "\n" not in str(err.value)


def test_mismatched_keys_are_named(tmp_path):
    state = dict(net_of("ConditionalUNet").state_dict())
    state["downs.0.0.block1.projection.weight"] = state.pop("downs.0.0.block1.proj.weight")
    del state["mid_attn.fn.norm.g"]
    state["ups.1.2.fn.fn.to_out.0.bias"] = torch.zeros(5)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    msg = str(err.value)
    assert "\n" not in msg and "bad.pth" in msg
    for key in (
        "downs.0.0.block1.proj.weight",
        "mid_attn.fn.norm.g",
        "downs.0.0.block1.projection.weight",
        "ups.1.2.fn.fn.to_out.0.bias",
    ):
        assert key in msg


def test_unknown_network_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3)}, path)
    with pytest.raises(ModelLoadError, match=r"unrecognised network .*conv1\.weight"):
        load_model(path)


def test_nan_weights_are_refused(tmp_path):
    state = dict(net_of("ConditionalNAFNet").state_dict())
    state["middle_blks.1.conv4.weight"] = state["middle_blks.1.conv4.weight"].clone()
    state["middle_blks.1.conv4.weight"][0, 0] = float("inf")
    state["intro.bias"] = torch.full_like(state["intro.bias"], float("nan"))
    pth = tmp_path / "nan.pth"
    torch.save(state, pth)
    with pytest.raises(
        ModelLoadError, match=r"non-finite .*intro\.bias.*middle_blks\.1\.conv4\.weight"
    ):
        load_model(pth)
    st = tmp_path / "nan.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, st)
    with pytest.raises(ModelLoadError, match=r"non-finite"):
        load_model(st)


def _with_metadata(tmp_path: Path, net: torch.nn.Module, config: str) -> Path:
    path = tmp_path / "lie.safetensors"
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(tensors, path, metadata={"irsde": config})
    return path


def test_metadata_that_lies_about_shapes_is_refused(tmp_path):
    net = net_of("ConditionalUNet")
    lie = {"arch": "ConditionalUNet", "arch_params": {**TINY_UNET, "nf": 16}, "sde": None}
    with pytest.raises(ModelLoadError, match=r"do not match the weights: nf=16 \(weights: 8\)"):
        load_model(_with_metadata(tmp_path, net, json.dumps(lie)))
    deeper = {"arch": "ConditionalUNet", "arch_params": {**TINY_UNET, "depth": 4}}
    with pytest.raises(ModelLoadError, match=r"do not match the weights: depth=4"):
        load_model(_with_metadata(tmp_path, net, json.dumps(deeper)))
    for bad in ("{not json", json.dumps({"arch": "Nope", "arch_params": {}})):
        with pytest.raises(ModelLoadError, match=r"lie\.safetensors"):
            load_model(_with_metadata(tmp_path, net, bad))
    wrong_kw = {"arch": "ConditionalUNet", "arch_params": {"channels": 8}}
    with pytest.raises(ModelLoadError, match=r"invalid parameters"):
        load_model(_with_metadata(tmp_path, net, json.dumps(wrong_kw)))


# --------------------------------------------------------------------------- CLI
def test_cli_convert_and_info(tmp_path, capsys):
    net = net_of("ConditionalUNet")
    src, out = tmp_path / "ref.pth", tmp_path / "derain.safetensors"
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, src)

    assert main(["convert", str(src), str(out), "--task", "derain"]) == 0
    cfg = load_model(out).irsde_config
    assert cfg["sde"] == get_task("derain").sde and cfg["task"] == "derain"
    assert cfg["sampler"]["name"] == "posterior"
    assert cfg["provenance"]["converted_from"] == "ref.pth"
    capsys.readouterr()

    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arch"] == "ConditionalUNet" and info["arch_params"]["nf"] == 8
    assert info["parameters"] == sum(p.numel() for p in net.parameters())
    assert info["file_size"] == out.stat().st_size and info["sde"]["max_sigma"] == 10

    assert main(["info", str(src)]) == 0
    text = capsys.readouterr().out
    assert "ConditionalUNet" in text and f"{info['parameters']:,}" in text
    assert "reference-pth" in text


def test_cli_convert_refuses_to_overwrite(tmp_path, capsys):
    src, out = tmp_path / "ref.pth", tmp_path / "m.safetensors"
    torch.save(net_of("ConditionalNAFNet").state_dict(), src)
    out.write_bytes(b"keep me")
    assert main(["convert", str(src), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["convert", str(src), str(out), "--overwrite", "--half", "--task", "sr4"]) == 0
    loaded = load_model(out)
    assert loaded.irsde_config["task"] == "sr4" and loaded.irsde_config["dtype"] == "float16"


def test_cli_reports_bad_files_in_one_line(tmp_path, capsys):
    evil = tmp_path / "evil.pth"
    torch.save({"x": _Evil(tmp_path / "pwned")}, evil)
    assert main(["info", str(evil)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("irsde info: error: refusing to load") and "\n" not in err
    assert not (tmp_path / "pwned").exists()
    assert main(["convert", str(tmp_path / "missing.pth"), str(tmp_path / "o.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err


def test_task_params_round_trip_and_are_checked(tmp_path):
    net = net_of("ConditionalNAFNet")
    path = save_model(
        net, tmp_path / "m.safetensors", task="inpaint", task_params={"fill": "smooth"}
    )
    assert load_model(path).irsde_config["task_params"] == {"fill": "smooth"}


# ------------------------------------------------------------- detection and config
def test_a_plain_nafnet_is_not_taken_for_the_conditional_one(tmp_path):
    state = {
        k: v
        for k, v in net_of("ConditionalNAFNet").state_dict().items()
        if not k.startswith("time_mlp.") and ".mlp." not in k
    }  # intro, ending, encoders, ... as megvii's NAFNet has, no time embedding
    path = tmp_path / "nafnet.pth"
    torch.save(state, path)
    with pytest.raises(ModelLoadError, match=r"nafnet\.pth: unrecognised network") as err:
        load_model(path)
    msg = str(err.value)
    assert "\n" not in msg and "intro.weight" in msg and "time_mlp.1.weight" in msg


def _metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["irsde"])


def test_files_record_the_sde_type_and_old_files_read_as_irsde(tmp_path):
    net = net_of("ConditionalNAFNet")
    sde = {"max_sigma": 30, "T": 50, "schedule": "cosine", "eps": 0.005}
    path = save_model(net, tmp_path / "m.safetensors", sde=sde)
    meta = _metadata(path)
    assert meta["sde"] == {"type": "irsde", **sde}
    old = {**meta, "sde": sde}  # written before SDEs had types
    cfg = load_model(_with_metadata(tmp_path, net, json.dumps(old))).irsde_config
    assert cfg["sde"] == sde and cfg.build_sde().config() == sde
    unknown = {**meta, "sde": {"type": "nope", **sde}}
    with pytest.raises(ModelLoadError, match=r"lie\.safetensors: .*sde: unknown SDE type 'nope'"):
        load_model(_with_metadata(tmp_path, net, json.dumps(unknown)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("task", 7),
        ("task", "paint"),
        ("sampler", {"name": "posterior", "steps": "ten"}),
        ("sampler", {"name": "nope"}),
        ("task_params", [1]),
        ("provenance", "x"),
        ("dtype", 16),
    ],
)
def test_metadata_of_the_wrong_type_is_refused_in_one_line(tmp_path, field, value):
    net = net_of("ConditionalUNet")
    meta = _metadata(save_model(net, tmp_path / "m.safetensors"))
    with pytest.raises(ModelLoadError, match=rf"lie\.safetensors: invalid irsde metadata: {field}"):
        load_model(_with_metadata(tmp_path, net, json.dumps({**meta, field: value})))


def test_the_config_on_the_module_is_typed_and_checked(tmp_path):
    net = net_of("ConditionalNAFNet")
    cfg = load_model(save_model(net, tmp_path / "m.safetensors", task="inpaint")).irsde_config
    assert isinstance(cfg, dict) and cfg.arch == "ConditionalNAFNet" == cfg["arch"]
    assert cfg.parametrization == "noise" and cfg.task == "inpaint"
    cfg["task_params"] = {"fill": "smooth"}
    assert cfg.task_params == {"fill": "smooth"}
    with pytest.raises(ValueError, match="task_params"):
        cfg["task_params"] = "smooth"
    with pytest.raises(KeyError, match="not a model config field"):
        cfg["colour"] = "red"


def test_a_plain_pickle_pth_is_refused_without_torch_warnings(tmp_path, recwarn, capfd):
    import pickle
    import warnings

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"a": _Evil(marker)}, protocol=4))
    warnings.simplefilter("always")
    with pytest.raises(ModelLoadError, match=r"refusing to load .*evil\.pth"):
        load_model(path)
    assert not marker.exists()
    assert [str(w.message) for w in recwarn] == []
    assert "Warning" not in capfd.readouterr().err


def test_a_full_disk_while_saving_is_an_oserror_naming_the_file(tmp_path, monkeypatch):
    """safetensors reports a full disk with its own error type; save_model makes it the
    OSError the CLI reports in one line, and leaves no temp file."""
    import safetensors.torch

    from irsde.nets import build_network

    class SafetensorError(Exception):  # the name safetensors' Rust error carries
        pass

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    net = build_network(
        "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    target = tmp_path / "m.safetensors"
    with pytest.raises(OSError, match="No space left") as info:
        save_model(net, target)
    assert info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
