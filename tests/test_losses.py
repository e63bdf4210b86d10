"""Training losses: values, reductions and gradients."""

from __future__ import annotations

import pytest
import torch

from conftest import make_oracle
from irsde import IRSDE
from irsde.losses import ml_matching_loss, noise_matching_loss, sample_training_state


def test_training_state_shapes_and_range(pair, gen):
    x0, mu = pair
    sde = IRSDE(10, 100)
    x_t, t, noise = sample_training_state(sde, x0, mu, gen)
    assert x_t.shape == x0.shape and noise.shape == x0.shape
    assert t.dtype == torch.long and t.shape == (2,) and int(t.min()) >= 1 and int(t.max()) <= 100
    torch.testing.assert_close(x_t, sde.q_sample(x0, mu, t, noise))


def test_final_fraction_draws_t_equal_T_that_often():
    sde = IRSDE(10, 100)
    x0 = torch.zeros(4000, 1, 1, 1)
    gen = torch.Generator().manual_seed(0)
    _, t, _ = sample_training_state(sde, x0, x0, gen, final_fraction=0.5)
    share = float((t == 100).float().mean())
    assert 0.47 < share < 0.53  # 0.5 + 0.5 / 100 expected
    _, t, _ = sample_training_state(sde, x0[:8], x0[:8], gen, final_fraction=1.0)
    assert bool((t == 100).all())
    with pytest.raises(ValueError, match="final_fraction"):
        sample_training_state(sde, x0, x0, gen, final_fraction=1.5)


def test_final_fraction_zero_keeps_the_random_stream():
    sde = IRSDE(10, 100)
    x0 = torch.rand(3, 3, 4, 4)
    a = sample_training_state(sde, x0, x0, torch.Generator().manual_seed(1))
    b = sample_training_state(sde, x0, x0, torch.Generator().manual_seed(1), final_fraction=0.0)
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)


def test_oracle_noise_gives_small_ml_loss_and_wrong_noise_larger(pair, gen):
    x0, mu = pair
    sde = IRSDE(10, 100)
    x_t, t, noise = sample_training_state(sde, x0, mu, gen)
    good = ml_matching_loss(sde, noise, x_t, x0, mu, t)
    bad = ml_matching_loss(sde, torch.zeros_like(noise), x_t, x0, mu, t)
    assert float(bad) > 10 * float(good)
    assert float(noise_matching_loss(noise, noise)) == 0.0


def test_reductions(pair, gen):
    x0, mu = pair
    sde = IRSDE(10, 100)
    x_t, t, noise = sample_training_state(sde, x0, mu, gen)
    pred = noise + 0.1
    per = ml_matching_loss(sde, pred, x_t, x0, mu, t, reduction="none")
    assert per.shape == (2,)
    torch.testing.assert_close(ml_matching_loss(sde, pred, x_t, x0, mu, t), per.mean())
    torch.testing.assert_close(
        ml_matching_loss(sde, pred, x_t, x0, mu, t, reduction="sum"), per.sum()
    )
    l2 = noise_matching_loss(pred, noise, kind="l2", reduction="none")
    torch.testing.assert_close(l2, torch.full((2,), 0.01), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        noise_matching_loss(pred, noise), torch.tensor(0.1), rtol=1e-4, atol=1e-6
    )
    with pytest.raises(ValueError, match="reduction"):
        noise_matching_loss(pred, noise, reduction="max")
    with pytest.raises(ValueError, match="kind"):
        noise_matching_loss(pred, noise, kind="huber")


def test_ml_loss_is_l1_between_reverse_mean_and_optimum(pair, gen):
    x0, mu = pair
    sde = IRSDE(10, 100)
    x_t, t, noise = sample_training_state(sde, x0, mu, gen)
    pred = noise * 0.5
    expected = sde.reverse_sde_mean(x_t, mu, sde.score_from_noise(pred, t), t) - sde.optimal_prev(
        x_t, x0, mu, t
    )
    torch.testing.assert_close(
        ml_matching_loss(sde, pred, x_t, x0, mu, t), expected.abs().flatten(1).mean(1).mean()
    )


def test_gradients_flow_and_descent_reduces_loss(pair, gen):
    x0, mu = pair
    sde = IRSDE(10, 100)
    net = torch.nn.Conv2d(6, 3, 3, padding=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x_t, t, _noise = sample_training_state(sde, x0, mu, gen)
    losses = []
    for _ in range(150):
        pred = net(torch.cat([x_t - mu, mu], 1))
        loss = ml_matching_loss(sde, pred, x_t, x0, mu, t)
        opt.zero_grad()
        loss.backward()
        assert net.weight.grad is not None and float(net.weight.grad.abs().sum()) > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_oracle_helper_matches_training_noise(pair, gen):
    x0, mu = pair
    sde = IRSDE(10, 100)
    x_t, t, noise = sample_training_state(sde, x0, mu, gen)
    torch.testing.assert_close(make_oracle(sde, x0)(x_t, mu, t), noise, atol=1e-4, rtol=1e-4)


def test_x0_loss_is_zero_for_true_noise_and_matches_definition(pair, gen):
    from irsde.losses import x0_matching_loss

    x0, mu = pair
    sde = IRSDE(10, 100)
    x_t, t, noise = sample_training_state(sde, x0, mu, gen)
    assert float(x0_matching_loss(sde, noise, x_t, x0, mu, t)) < 1e-4
    wrong = noise + 0.01
    expected = (sde.x0_from_noise(x_t, mu, wrong, t) - x0).abs().flatten(1).mean(1).mean()
    torch.testing.assert_close(x0_matching_loss(sde, wrong, x_t, x0, mu, t), expected)


def test_x0_loss_weight_averages_over_the_weighted_pixels_only(pair, gen):
    from irsde.losses import x0_matching_loss

    x0, mu = pair
    sde = IRSDE(10, 100)
    x_t, t, noise = sample_training_state(sde, x0, mu, gen)
    wrong = noise.clone()
    wrong[..., :, : x0.shape[-1] // 2] += 0.05  # errors only in the left half
    left = torch.zeros_like(x0[:, :1])
    left[..., :, : x0.shape[-1] // 2] = 1
    err = (sde.x0_from_noise(x_t, mu, wrong, t) - x0).abs()
    on_left = x0_matching_loss(sde, wrong, x_t, x0, mu, t, weight=left)
    on_right = x0_matching_loss(sde, wrong, x_t, x0, mu, t, weight=1 - left)
    torch.testing.assert_close(on_left, err[..., : x0.shape[-1] // 2].flatten(1).mean(1).mean())
    assert float(on_right) < 1e-4 < float(on_left)
    # an empty weight (no hole in a sample) contributes 0, not NaN
    none = x0_matching_loss(sde, wrong, x_t, x0, mu, t, weight=torch.zeros_like(left))
    assert float(none) == 0.0
