"""Brooks et al. (CVPR 2019) unprocessing: sRGB -> realistic linear RAW, and the matching forward ISP.

"Unprocessing Images for Learned Raw Denoising", parameters as in the official
`google-research/unprocessing/{unprocess,process}.py`. Images are float32 H×W×3 in [0, 1]; Bayer images are
H/2×W/2×4 planes in the order (R, Gr, Gb, B) of an RGGB mosaic. All randomness comes from the
`np.random.Generator` passed in, so callers decide determinism.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The four XYZ->camera matrices Brooks et al. interpolate between (official `random_ccm`).
XYZ2CAMS = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
    ],
    dtype=np.float64,
)
# Linear sRGB -> XYZ, D65.
RGB2XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=np.float64,
)


@dataclass(frozen=True)
class CameraParams:
    """The random "camera" an image was unprocessed with; the forward ISP needs the same values."""

    rgb2cam: np.ndarray  # 3×3, rows sum to 1
    rgb_gain: float  # global brightening the ISP applied
    red_gain: float  # white-balance gains (green = 1)
    blue_gain: float

    @property
    def cam2rgb(self) -> np.ndarray:
        return np.linalg.inv(self.rgb2cam).astype(np.float32)

    @property
    def xyz2cam(self) -> np.ndarray:
        """The DNG ColorMatrix1 that makes LibRaw reproduce `cam2rgb` (it row-normalises and inverts it)."""
        return (self.rgb2cam @ np.linalg.inv(RGB2XYZ)).astype(np.float32)

    @property
    def as_shot_neutral(self) -> np.ndarray:
        """The DNG AsShotNeutral: the camera response to white, i.e. the inverse white-balance gains."""
        return np.array([1.0 / self.red_gain, 1.0, 1.0 / self.blue_gain], dtype=np.float32)


def random_ccm(rng: np.random.Generator) -> np.ndarray:
    """A random RGB->camera matrix: a convex combination of `XYZ2CAMS`, times sRGB->XYZ, rows normalised."""
    weights = rng.uniform(1e-8, 1e8, size=(len(XYZ2CAMS), 1, 1))
    xyz2cam = (XYZ2CAMS * weights).sum(axis=0) / weights.sum()
    rgb2cam = xyz2cam @ RGB2XYZ
    # Row normalisation maps white to white, so white balance alone sets the neutral.
    return (rgb2cam / rgb2cam.sum(axis=-1, keepdims=True)).astype(np.float32)


def random_gains(rng: np.random.Generator) -> tuple[float, float, float]:
    """(rgb_gain, red_gain, blue_gain): brightening 1/N(0.8, 0.1) and white balance as in the paper."""
    rgb_gain = 1.0 / rng.normal(0.8, 0.1)
    red_gain = rng.uniform(1.9, 2.4)
    blue_gain = rng.uniform(1.5, 1.9)
    return float(rgb_gain), float(red_gain), float(blue_gain)


def random_camera(rng: np.random.Generator) -> CameraParams:
    rgb2cam = random_ccm(rng)
    return CameraParams(rgb2cam, *random_gains(rng))


def smoothstep(image: np.ndarray) -> np.ndarray:
    """The global tone curve 3x² - 2x³ that Brooks et al. assume the camera applied."""
    image = np.clip(image, 0.0, 1.0)
    return image * image * (3.0 - 2.0 * image)


def inverse_smoothstep(image: np.ndarray) -> np.ndarray:
    image = np.clip(image, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * image) / 3.0)


def gamma_expansion(image: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    # The floor keeps 0 ** x well defined (the official code clamps for gradient stability).
    return np.maximum(image, 1e-8) ** gamma


def gamma_compression(image: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    return np.maximum(image, 1e-8) ** (1.0 / gamma)


def apply_ccm(image: np.ndarray, ccm: np.ndarray) -> np.ndarray:
    """Multiplies every pixel (last axis) by the 3×3 matrix `ccm`."""
    return image @ np.asarray(ccm, dtype=image.dtype).T


def safe_invert_gains(image: np.ndarray, camera: CameraParams) -> np.ndarray:
    """Undoes white balance and brightening without dimming near-white pixels (official `safe_invert_gains`)."""
    gains = np.array([1.0 / camera.red_gain, 1.0, 1.0 / camera.blue_gain], dtype=np.float32) / camera.rgb_gain
    gray = image.mean(axis=-1, keepdims=True)
    inflection = 0.9
    # A smooth mask reaching 1 at white keeps highlights saturated, as a real sensor clips them.
    mask = (np.maximum(gray - inflection, 0.0) / (1.0 - inflection)) ** 2
    safe_gains = np.maximum(mask + (1.0 - mask) * gains, gains)
    return image * safe_gains


def mosaic(image: np.ndarray) -> np.ndarray:
    """H×W×3 -> H/2×W/2×4 RGGB planes (R, Gr, Gb, B). H and W must be even."""
    _check_even(image.shape)
    return np.stack([image[0::2, 0::2, 0], image[0::2, 1::2, 1], image[1::2, 0::2, 1], image[1::2, 1::2, 2]], axis=-1)


def unprocess_rgb(image: np.ndarray, camera: CameraParams) -> np.ndarray:
    """sRGB H×W×3 in [0, 1] -> linear camera RGB at full resolution, clipped to [0, 1] like a sensor."""
    image = np.asarray(image, dtype=np.float32)
    image = inverse_smoothstep(image)
    image = gamma_expansion(image)
    image = apply_ccm(image, camera.rgb2cam)
    image = safe_invert_gains(image, camera)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def unprocess(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, CameraParams]:
    """sRGB H×W×3 in [0, 1] (H, W even) -> (RGGB planes H/2×W/2×4, the random camera used)."""
    camera = random_camera(rng)
    return mosaic(unprocess_rgb(image, camera)), camera


def random_noise_levels(
    rng: np.random.Generator, shot_range: tuple[float, float] = (1e-4, 0.012)
) -> tuple[float, float]:
    """(shot, read) variance coefficients: log-uniform shot, read on the paper's log-log line (fit to DND)."""
    log_shot = rng.uniform(np.log(shot_range[0]), np.log(shot_range[1]))
    log_read = 2.18 * log_shot + 1.20 + rng.normal(0.0, 0.26)
    return float(np.exp(log_shot)), float(np.exp(log_read))


def add_noise(image: np.ndarray, shot: float, read: float, rng: np.random.Generator) -> np.ndarray:
    """Heteroscedastic Gaussian approximation of Poisson-Gaussian noise: variance = x·shot + read.

    The result is not clipped: a real sensor records values below zero signal (below black), and clipping here
    would bias the mean of amplified dark frames.
    """
    image = np.asarray(image, dtype=np.float32)
    variance = np.maximum(image, 0.0) * shot + read
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.sqrt(variance).astype(np.float32)
    return image + noise


def apply_gains(bayer: np.ndarray, camera: CameraParams) -> np.ndarray:
    """White balance and brightening on RGGB planes.

    The official `process.apply_gains` leaves out `rgb_gain`; it is applied here so that `process` exactly
    inverts `unprocess` (up to demosaicking) and a high image keeps the seed's brightness.
    """
    gains = np.array([camera.red_gain, 1.0, 1.0, camera.blue_gain], dtype=np.float32) * camera.rgb_gain
    return bayer * gains


def demosaic(bayer: np.ndarray) -> np.ndarray:
    """Bilinear demosaic of RGGB planes H/2×W/2×4 -> H×W×3, edges replicated.

    Same result as the official `process.demosaic` (TF1 `resize_bilinear` of each plane, aligned to its sites).
    """
    r, gr, gb, b = (bayer[..., i] for i in range(4))
    h, w = r.shape
    out = np.empty((2 * h, 2 * w, 3), dtype=bayer.dtype)

    # Red sits at (even, even): interpolate towards the right and down.
    r_right, r_down = _right(r), _down(r)
    out[0::2, 0::2, 0] = r
    out[0::2, 1::2, 0] = (r + r_right) / 2
    out[1::2, 0::2, 0] = (r + r_down) / 2
    out[1::2, 1::2, 0] = (r + r_right + r_down + _down(r_right)) / 4

    # Blue sits at (odd, odd): interpolate towards the left and up.
    b_left, b_up = _left(b), _up(b)
    out[1::2, 1::2, 2] = b
    out[1::2, 0::2, 2] = (b + b_left) / 2
    out[0::2, 1::2, 2] = (b + b_up) / 2
    out[0::2, 0::2, 2] = (b + b_left + b_up + _up(b_left)) / 4

    # Green at red/blue sites: mean of the horizontal (Gr or Gb row) and vertical neighbours.
    out[0::2, 1::2, 1] = gr
    out[1::2, 0::2, 1] = gb
    out[0::2, 0::2, 1] = (gr + _left(gr) + gb + _up(gb)) / 4
    out[1::2, 1::2, 1] = (gr + _down(gr) + gb + _right(gb)) / 4
    return out


def process(bayer: np.ndarray, camera: CameraParams) -> np.ndarray:
    """The forward ISP: gains, bilinear demosaic, CCM, gamma 2.2, smoothstep -> sRGB H×W×3 in [0, 1].

    The official `process.py` stops at gamma; the smoothstep tone curve is added so this is the exact inverse of
    `unprocess`.
    """
    bayer = np.clip(apply_gains(np.asarray(bayer, dtype=np.float32), camera), 0.0, 1.0)
    return _develop(demosaic(bayer), camera)


def process_rgb(rgb: np.ndarray, camera: CameraParams) -> np.ndarray:
    """`process` for camera RGB that is already demosaicked (H×W×3, before white balance): gains, CCM, gamma,
    smoothstep. Noise added to such an image stays white at its resolution, as in a capture downscaled after
    demosaicking (LOL's 600×400 frames; docs/specs/data.md §3.1)."""
    gains = np.array([camera.red_gain, 1.0, camera.blue_gain], dtype=np.float32) * camera.rgb_gain
    return _develop(np.clip(np.asarray(rgb, dtype=np.float32) * gains, 0.0, 1.0), camera)


def _develop(rgb: np.ndarray, camera: CameraParams) -> np.ndarray:
    """White-balanced camera RGB in [0, 1] -> sRGB: CCM, gamma 2.2, smoothstep."""
    image = gamma_compression(np.clip(apply_ccm(rgb, camera.cam2rgb), 0.0, 1.0))
    return smoothstep(image).astype(np.float32)


def _check_even(shape: tuple[int, ...]) -> None:
    if shape[0] % 2 or shape[1] % 2:
        raise ValueError(f"a Bayer mosaic needs even height and width, got {shape[0]}×{shape[1]}")


# Neighbour shifts on a half-resolution plane, replicating the border sample.
def _right(p: np.ndarray) -> np.ndarray:
    return np.concatenate([p[:, 1:], p[:, -1:]], axis=1)


def _left(p: np.ndarray) -> np.ndarray:
    return np.concatenate([p[:, :1], p[:, :-1]], axis=1)


def _down(p: np.ndarray) -> np.ndarray:
    return np.concatenate([p[1:], p[-1:]], axis=0)


def _up(p: np.ndarray) -> np.ndarray:
    return np.concatenate([p[:1], p[:-1]], axis=0)
