import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from lle.metrics import gt_mean_rescale, image_metrics, psnr, quantize_8bit, ssim


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (quantize_8bit(x) * 255).round().byte().permute(1, 2, 0).numpy()


def test_ssim_matches_scikit_image_gaussian_ssim():
    torch.manual_seed(0)
    target = torch.rand(3, 3, 40, 56)
    pred = (target * 0.7 + 0.2 * torch.rand_like(target)).clamp(0, 1)
    ours = ssim(pred, target)
    for i in range(3):
        reference = structural_similarity(
            _to_uint8(pred[i]),
            _to_uint8(target[i]),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=-1,
        )
        assert abs(float(ours[i]) - reference) < 1e-3
        assert abs(float(ours[i]) - reference) < 1e-6  # in practice identical to float precision


def test_psnr_of_a_known_error():
    target = torch.full((1, 3, 16, 16), 100 / 255)
    pred = torch.full((1, 3, 16, 16), 110 / 255)  # exactly 10 grey levels off
    assert float(psnr(pred, target)) == pytest.approx(20 * np.log10(255 / 10), abs=1e-9)


def test_psnr_clamps_the_output_and_quantisation_is_optional():
    target = torch.ones(1, 3, 8, 8)
    assert float(psnr(torch.full_like(target, 1.7), target)) > 190  # clamped to 1: a perfect match
    pred = target - 0.001  # float32 0.999
    assert float(psnr(pred, target, quantize=False)) == pytest.approx(60.0, abs=1e-3)
    assert float(psnr(pred, target, quantize=True)) > 190  # 0.999 rounds to 255


def test_gt_mean_rescale_matches_grey_means_and_is_separate():
    target = torch.rand(2, 3, 16, 16) * 0.5 + 0.25
    pred = target * 0.5
    rescaled = gt_mean_rescale(pred, target)
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((rescaled * w).sum(1).mean((1, 2)), (target * w).sum(1).mean((1, 2)), atol=1e-5)
    values = image_metrics(pred, target, gt_mean=True)
    assert set(values) == {"psnr", "ssim", "psnr_gtmean", "ssim_gtmean"}
    assert (values["psnr_gtmean"] > values["psnr"]).all()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
