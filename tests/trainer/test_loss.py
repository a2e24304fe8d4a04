"""The loss equals a direct computation of the paper's formula on fixed tensors."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.loss import gather_with_grad, info_nce, simcse_loss


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a.double() @ b.double() / (a.double().norm() * b.double().norm()))


def direct(z1, z2, z3=None, *, temp: float, alpha: float = 1.0) -> float:
    """-1/N sum_i log( e^{s(i,i+)/t} / (sum_j e^{s(i,j+)/t} + sum_j alpha^{[i=j]} e^{s(i,j-)/t}) ), in float64 loops."""
    n = len(z1)
    total = 0.0
    for i in range(n):
        num = math.exp(cos(z1[i], z2[i]) / temp)
        den = sum(math.exp(cos(z1[i], z2[j]) / temp) for j in range(n))
        if z3 is not None:
            den += sum((alpha if j == i else 1.0) * math.exp(cos(z1[i], z3[j]) / temp) for j in range(n))
        total += -math.log(num / den)
    return total / n


@pytest.fixture
def z() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(6, 8, generator=g)
    z2 = z1 + 0.5 * torch.randn(6, 8, generator=g)  # positives: noisy copies
    z3 = torch.randn(6, 8, generator=g)
    return z1, z2, z3


@pytest.mark.parametrize("temp", [0.05, 0.1, 1.0])
def test_unsup_loss_matches_formula(z, temp: float) -> None:
    z1, z2, _ = z
    assert float(info_nce(z1, z2, temp=temp)) == pytest.approx(direct(z1, z2, temp=temp), rel=1e-5)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 0.25, 0.0])
def test_sup_loss_with_hard_negative_weight_matches_formula(z, alpha: float) -> None:
    z1, z2, z3 = z
    got = float(info_nce(z1, z2, z3, temp=0.05, hard_negative_weight=alpha))
    assert got == pytest.approx(direct(z1, z2, z3, temp=0.05, alpha=alpha), rel=1e-5)


def test_weight_is_the_reference_logit_offset(z) -> None:
    """SimCSE's code adds ``hard_negative_weight`` (a logit) to each row's own hard negative: ours is log(alpha)."""
    z1, z2, z3 = z
    temp, ref_weight = 0.05, 0.7
    n = len(z1)
    sim = (
        torch.nn.functional.cosine_similarity(z1.unsqueeze(1), torch.cat([z2, z3]).unsqueeze(0), dim=-1)
        / temp
    )
    weights = torch.tensor([[0.0] * n + [0.0] * i + [ref_weight] + [0.0] * (n - i - 1) for i in range(n)])
    reference = torch.nn.functional.cross_entropy(sim + weights, torch.arange(n))
    ours = info_nce(z1, z2, z3, temp=temp, hard_negative_weight=math.exp(ref_weight))
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)


def test_alpha_one_is_plain_and_hard_negatives_raise_the_loss(z) -> None:
    z1, z2, z3 = z
    plain = float(info_nce(z1, z2, temp=0.05))
    with_hard = float(info_nce(z1, z2, z3, temp=0.05))
    assert with_hard > plain
    assert float(info_nce(z1, z2, z3, temp=0.05, hard_negative_weight=1.0)) == pytest.approx(with_hard)


def test_simcse_loss_splits_example_major_embeddings(z) -> None:
    z1, z2, z3 = z
    emb = torch.stack([z1, z2, z3], dim=1)  # (batch, 3, hidden)
    assert float(simcse_loss(emb, temp=0.05)) == pytest.approx(direct(z1, z2, z3, temp=0.05), rel=1e-5)
    assert float(simcse_loss(emb[:, :2], temp=0.05)) == pytest.approx(direct(z1, z2, temp=0.05), rel=1e-5)


def test_loss_is_scale_invariant_and_gather_is_identity_alone(z) -> None:
    z1, z2, _ = z
    assert float(info_nce(3 * z1, 0.5 * z2, temp=0.05)) == pytest.approx(
        float(info_nce(z1, z2, temp=0.05)), rel=1e-5
    )
    assert gather_with_grad(z1) is z1
