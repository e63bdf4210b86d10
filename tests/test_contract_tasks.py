"""Contract of every registered task: a new task is tested by registering it.

Each task synthesizes a tiny degraded image, makes the network input from what a user
gives it, restores through a tiny saved model, and runs its benchmark variants and its
classical baselines.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irsde.data import dead_leaves
from irsde.errors import ConfigError, UsageError
from irsde.sde import SDE, SDES, build_sde, sde_spec
from irsde.tasks import TASKS, get_task

SIZE = 24
NAMES = list(TASKS)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return dead_leaves((SIZE, SIZE), rng(5))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, object]:
    """A tiny random ConditionalNAFNet saved once per task (``task=name``)."""
    from irsde import save_model
    from irsde.nets import build_network

    folder = tmp_path_factory.mktemp("task-models")
    paths = {}
    for name in NAMES:
        torch.manual_seed(0)
        net = build_network(
            "ConditionalNAFNet", width=4, enc_blocks=[1], dec_blocks=[1], middle_blocks=1
        )
        paths[name] = save_model(net, folder / f"{name}.safetensors", task=name)
    return paths


def expected_lq_size(name: str) -> tuple[int, int, int]:
    s = get_task(name).scale
    return (SIZE // s, SIZE // s, 3)


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_is_complete(name):
    task = get_task(name)
    assert task.name == name and task.description and task.scale >= 1
    assert sde_spec(task.sde)["type"] in SDES  # model files record the SDE type
    assert isinstance(build_sde(task.sde), SDE)
    assert set(task.int_params) <= set(task.params)
    assert set(task.model_params) <= set(task.params)
    assert task.curve_variant == "" or task.curve_variant in task.variants
    assert task.variants, "benchmarks report at least one setting (use {'': {}})"


@pytest.mark.parametrize("name", NAMES)
def test_synthesis_is_deterministic_in_range_and_sized(name, clean):
    task = get_task(name)
    res = task.synthesize(clean, rng(3))
    assert res.mu.shape == clean.shape and res.mu.dtype == np.float32
    assert res.mu.min() >= 0.0 and res.mu.max() <= 1.0
    assert res.restore_input.shape == expected_lq_size(name)
    assert res.restore_input.min() >= 0.0 and res.restore_input.max() <= 1.0
    assert set(res.params) == set(task.params)
    assert (res.mask is not None) == task.uses_mask
    again = task.synthesize(clean, rng(3))
    assert np.array_equal(res.mu, again.mu) and res.params == again.params
    with pytest.raises(ConfigError, match="no_such_param"):
        task.synthesize(clean, rng(3), no_such_param=1)


@pytest.mark.parametrize("name", NAMES)
def test_network_input_has_the_network_size(name, clean):
    task = get_task(name)
    res = task.synthesize(clean, rng(1))
    mu, known = task.network_input(res.restore_input, res.mask)
    assert mu.shape == clean.shape and mu.dtype == np.float32
    assert (known is not None) == task.uses_mask
    if not task.uses_mask:
        with pytest.raises(UsageError, match="mask"):
            task.network_input(res.restore_input, np.zeros(res.restore_input.shape[:2], bool))


@pytest.mark.parametrize("name", NAMES)
def test_restore_round_trip_on_a_tiny_model(name, clean, model_files):
    from irsde.restore import Restorer

    task = get_task(name)
    res = task.synthesize(clean, rng(2))
    lq = res.restore_input
    r = Restorer(model_files[name], steps=2, device="cpu", tile=None)
    assert r.task == name and r.scale == task.scale
    out, std = r.restore_rgb([lq], [res.mask])[0]
    assert out.shape == clean.shape and out.dtype == np.float32 and std is None
    assert out.min() >= 0.0 and out.max() <= 1.0
    if task.uses_mask:
        known = ~res.mask
        np.testing.assert_array_equal(out[known], lq[known])


@pytest.mark.parametrize("name", NAMES)
def test_benchmark_variants_degrade(name, clean):
    task = get_task(name)
    for variant in {"", *task.variants}:
        gt, res = task.degrade_variant(clean, rng(4), variant)
        assert gt.shape == clean.shape
        assert res.restore_input.shape == expected_lq_size(name)
        assert res.restore_input.min() >= 0.0 and res.restore_input.max() <= 1.0
    with pytest.raises(UsageError, match="variant"):
        task.degrade_variant(clean, rng(4), "no-such-variant")


@pytest.mark.parametrize("name", NAMES)
def test_classical_baselines_run(name, clean):
    pytest.importorskip("scipy")
    pytest.importorskip("skimage")
    from irsde import classical as C

    task = get_task(name)
    assert C.BASELINES[name] == task.baselines and task.baselines
    cases = [task.degrade_variant(clean, rng(6), v) for v in {"", *task.variants}]
    with_kernel = next((c for c in cases if c[1].kernel is not None), None)
    for method in task.baselines:
        gt, res = cases[0]
        if C.NON_BLIND.get(method) == "kernel":
            assert with_kernel is not None, f"{method} needs a variant with a known kernel"
            gt, res = with_kernel
        try:
            out = C.run_baseline(
                name,
                method,
                res.restore_input,
                sigma=res.params.get("sigma"),
                kernel=res.kernel,
                mask=res.mask,
            )
        except C.MissingDependencyError:
            continue  # e.g. bm3d not installed
        assert out.shape == gt.shape and out.dtype == np.float32, method
        assert out.min() >= 0.0 and out.max() <= 1.0, method
