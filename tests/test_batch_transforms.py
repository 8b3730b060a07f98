import pytest
import torch

from lle.data.batch_transforms import Dihedral, MixUp, dihedral


def paired_batch(n=16, size=6, channels=4):
    """Input with 4 channels and a target derived from it pixel-wise: a shared λ/permutation keeps the relation."""
    x = torch.rand(n, channels, size, size)
    return {"input": x, "target": 2 * x[:, :3] + 1, "name": [f"img{i}" for i in range(n)]}


def relation_holds(batch):
    return torch.allclose(batch["target"], 2 * batch["input"][:, :3] + 1, atol=1e-6)


def test_mixup_mixes_input_and_target_alike():
    torch.manual_seed(0)
    batch = paired_batch()
    out = MixUp()(batch, epoch=0)
    assert relation_holds(out) and not torch.equal(out["input"], batch["input"])
    assert out["name"] is batch["name"] and relation_holds(batch)  # other keys pass, the input is not modified


def lambdas(per_sample):
    """λ of each sample, read off one-hot inputs: out_i = λ_i e_i + (1 − λ_i) e_perm(i)."""
    n = 64
    eye = torch.eye(n).view(n, n, 1, 1)
    out = MixUp(per_sample=per_sample)({"input": eye, "target": eye.clone()})["input"].view(n, n)
    diagonal = out.diagonal()
    return diagonal[diagonal < 1]  # a sample paired with itself stays e_i whatever λ is


def test_mixup_lambda_per_sample_or_per_batch():
    torch.manual_seed(1)
    assert lambdas(per_sample=True).unique().numel() > 10  # MIRNet: one λ per sample
    assert lambdas(per_sample=False).unique().numel() == 1  # BasicSR (MIRNet-v2): one λ per batch


def test_mixup_draws_from_beta_1_2():
    torch.manual_seed(2)
    lam = MixUp().beta.sample((20000,))
    assert abs(lam.mean().item() - 0.5) < 0.01
    assert abs(lam.var().item() - 1.44 / (5.76 * 3.4)) < 0.005  # αβ / ((α+β)²(α+β+1))


def test_mixup_start_epoch_and_probability():
    batch = paired_batch()
    late = MixUp(start_epoch=5)
    assert late(batch, epoch=4) is batch
    assert not torch.equal(late(batch, epoch=5)["input"], batch["input"])
    assert MixUp(p=0.0)(batch, epoch=10) is batch
    torch.manual_seed(3)
    mixed = sum(MixUp(p=0.5)(batch) is not batch for _ in range(400))
    assert 150 < mixed < 250


def test_dihedral_is_the_mirnet_group():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    images = [dihedral(x, i) for i in range(8)]
    assert len({tuple(im.flatten().tolist()) for im in images}) == 8
    # MIRNet's Augment_RGB_torch: transform1 = rot90(k=1, dims=[-1, -2]), transform4 = flip(-2), transform5 = both.
    assert torch.equal(images[1], torch.rot90(x, 1, dims=[-1, -2]))
    assert torch.equal(images[4], x.flip(-2))
    assert torch.equal(images[5], torch.rot90(x, 1, dims=[-1, -2]).flip(-2))


def test_dihedral_per_sample_keeps_pairs_together():
    torch.manual_seed(4)
    batch = paired_batch(n=32)
    out = Dihedral()(batch)
    assert relation_holds(out) and out["name"] is batch["name"]
    used = []
    for i in range(32):
        index = [k for k in range(8) if torch.equal(dihedral(batch["input"][i], k), out["input"][i])]
        assert len(index) == 1  # each sample is a transform of itself, not of another sample
        used.append(index[0])
    assert len(set(used)) > 3


def test_dihedral_needs_square_patches_per_sample():
    x = torch.rand(4, 3, 6, 10)
    batch = {"input": x, "target": x.clone()}
    with pytest.raises(ValueError, match="square"):
        Dihedral()(batch)
    torch.manual_seed(5)
    outs = [Dihedral(per_sample=False)(batch) for _ in range(20)]
    assert {o["input"].shape[-2:] for o in outs} == {torch.Size([6, 10]), torch.Size([10, 6])}
    assert all(torch.equal(o["input"], o["target"]) for o in outs)
