"""Retinexformer: One-stage Retinex-based Transformer for Low-light Image Enhancement (Cai et al., ICCV 2023).

Written to match the official code (`caiyuanhao1998/Retinexformer` @ ad5c091,
`basicsr/models/archs/RetinexFormer_arch.py`) with the LOL configuration (`Options/RetinexFormer_LOL_v1.yml`: n_feat
40, stage 1, num_blocks [1, 2, 2]) as defaults, 1,605,701 parameters; see docs/specs/retinexformer.md. One stage,
C = n_feat:

    F_lu, L = estimator([I; mean_c I])       conv1×1 → grouped conv5×5 (F_lu, C channels) → conv1×1 (L, 3 channels)
    I_lu = I ⊙ L + I                         light-up (the paper writes I ⊙ L; the code keeps the input as a residual)
    F0 = embedding(I_lu)                                               C   1
    E0 = IGAB×N1(F0, F_lu),  F1 = down(E0),  Y1 = down_lu(F_lu)        2C  ½
    E1 = IGAB×N2(F1, Y1),    F2 = down(E1),  Y2 = down_lu(Y1)          4C  ¼
    B  = IGAB×N3(F2, Y2)
    D1 = IGAB×N2(fuse([up(B); E1]), Y1)                                2C  ½
    D0 = IGAB×N1(fuse([up(D1); E0]), F_lu)                             C   1
    output = mapping(D0) + I_lu

down/down_lu are separate conv4×4 stride 2 (the light-up feature gets its own learned downsampling); up is a 2×2
stride-2 deconvolution with bias; fuse a 1×1 conv. IGAB: x += IG-MSA(x, Y), then x += FFN(LN(x)). Stages (`stage`)
run in sequence. Module and parameter names are the official ones, so an official checkpoint maps one to one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.blocks import crop_to, pad_to_multiple
from lle.models.interface import kind_of_channels


class IlluminationEstimator(nn.Module):
    """[I; mean_c I] → (light-up feature F_lu, light-up map L), all convolutions with biases.

    The code's middle conv is 5×5 with `groups=4` (the 4 input channels' count, reused), 10 channels a group; the
    paper's figure draws a depth-wise 9×9 (`depthwise_9x9=True`).
    """

    def __init__(self, n_feat: int, in_channels: int = 3, depthwise_9x9: bool = False):
        super().__init__()
        kernel, groups = (9, n_feat) if depthwise_9x9 else (5, in_channels + 1)
        self.conv1 = nn.Conv2d(in_channels + 1, n_feat, 1)
        self.depth_conv = nn.Conv2d(n_feat, n_feat, kernel, padding=kernel // 2, groups=groups)
        self.conv2 = nn.Conv2d(n_feat, in_channels, 1)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prior = img.mean(dim=1, keepdim=True)  # the illumination prior L_p
        feature = self.depth_conv(self.conv1(torch.cat([img, prior], dim=1)))
        return feature, self.conv2(feature)


class IGMSA(nn.Module):
    """IG-MSA (official `IG_MSA`): illumination-guided multi-head self-attention across channels (d×d per head).

    Tokens are the H·W pixels. Per head (d = dim_head channels): Q, K, V = fc(x) without bias; V is multiplied by
    the light-up feature; Q and K are L2-normalised over the pixels, so A = softmax_j(rescale · k_i·q_j) holds
    cosine similarities times a learned per-head scale (the paper divides by a learned α: the same thing);
    output channel i = Σ_j A_ij (V ⊙ Y)_j, then proj (with bias). A position term, two depth-wise 3×3 convs with
    a GELU between, is computed from V before the illumination guidance and added.
    `norm=True` puts a LayerNorm before the attention, as the paper's figure draws (the code has none).
    """

    def __init__(self, dim: int, dim_head: int, heads: int, norm: bool = False):
        super().__init__()
        if dim_head * heads != dim:
            raise ValueError(f"heads × dim_head must equal dim, got {heads} × {dim_head} for {dim}")
        self.num_heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.rescale = nn.Parameter(torch.ones(heads, 1, 1))
        self.proj = nn.Linear(dim, dim)
        self.pos_emb = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, bias=False, groups=dim),
            nn.GELU(),
            nn.Conv2d(dim, dim, 3, padding=1, bias=False, groups=dim),
        )
        self.norm = nn.LayerNorm(dim) if norm else nn.Identity()  # Identity: no tensors, the official keys

    def forward(self, x: torch.Tensor, illumination: torch.Tensor) -> torch.Tensor:
        """x, illumination: B×H×W×C (channels last, for the Linear layers); returns B×H×W×C."""
        b, h, w, c = x.shape
        tokens = self.norm(x).reshape(b, h * w, c)
        q, k, v = self.to_q(tokens), self.to_k(tokens), self.to_v(tokens)

        def per_head(t: torch.Tensor) -> torch.Tensor:  # B×N×C → B×heads×d×N
            return t.reshape(b, h * w, self.num_heads, -1).permute(0, 2, 3, 1)

        q, k = F.normalize(per_head(q), dim=-1), F.normalize(per_head(k), dim=-1)
        guided = per_head(v * illumination.reshape(b, h * w, c))
        attention = (k @ q.transpose(-2, -1) * self.rescale).softmax(dim=-1)
        out = self.proj((attention @ guided).permute(0, 3, 1, 2).reshape(b, h * w, c)).reshape(b, h, w, c)
        position = self.pos_emb(v.reshape(b, h, w, c).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return out + position


class FeedForward(nn.Module):
    """conv1×1 C→4C, GELU, depth-wise conv3×3, GELU, conv1×1 4C→C, no biases; B×H×W×C in and out."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        hidden = dim * mult
        self.net = nn.Sequential(
            nn.Conv2d(dim, hidden, 1, bias=False),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1, bias=False, groups=hidden),
            nn.GELU(),
            nn.Conv2d(hidden, dim, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class PreNorm(nn.Module):
    """LayerNorm over the channels (last axis), then `fn` (the official wrapper, kept for its `norm`/`fn` keys)."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.fn = fn
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class IGAB(nn.Module):
    """Illumination-guided attention block: `num_blocks` × (x += IG-MSA(x, Y); x += FFN(LN(x))), B×C×H×W in/out."""

    def __init__(self, dim: int, dim_head: int, heads: int, num_blocks: int, attention_norm: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList([IGMSA(dim, dim_head, heads, norm=attention_norm), PreNorm(dim, FeedForward(dim))])
            for _ in range(num_blocks)
        )

    def forward(self, x: torch.Tensor, illumination: torch.Tensor) -> torch.Tensor:
        x, illumination = x.permute(0, 2, 3, 1), illumination.permute(0, 2, 3, 1)
        for attention, feed_forward in self.blocks:
            x = attention(x, illumination) + x
            x = feed_forward(x) + x
        return x.permute(0, 3, 1, 2)


class Denoiser(nn.Module):
    """The corruption restorer: a two-level U-shaped illumination-guided Transformer (see the module docstring).

    Level i has n_feat·2^i channels in 2^i heads of n_feat channels. `decoder_blocks` (coarse to fine) defaults to
    the encoder's counts mirrored, (num_blocks[1], num_blocks[0]), as the code builds it.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        dim: int,
        num_blocks: Sequence[int],
        decoder_blocks: Sequence[int] | None = None,
        attention_norm: bool = False,
    ):
        super().__init__()
        self.level = len(num_blocks) - 1
        decoder_blocks = list(decoder_blocks or num_blocks[-2::-1])
        self.embedding = nn.Conv2d(in_dim, dim, 3, padding=1, bias=False)
        self.encoder_layers = nn.ModuleList()
        width = dim
        for i in range(self.level):
            self.encoder_layers.append(
                nn.ModuleList(
                    [
                        IGAB(width, dim, width // dim, num_blocks[i], attention_norm),
                        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),  # features
                        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),  # light-up feature
                    ]
                )
            )
            width *= 2
        self.bottleneck = IGAB(width, dim, width // dim, num_blocks[-1], attention_norm)
        self.decoder_layers = nn.ModuleList()
        for blocks in decoder_blocks:
            self.decoder_layers.append(
                nn.ModuleList(
                    [
                        nn.ConvTranspose2d(width, width // 2, 2, stride=2),
                        nn.Conv2d(width, width // 2, 1, bias=False),
                        IGAB(width // 2, dim, width // 2 // dim, blocks, attention_norm),
                    ]
                )
            )
            width //= 2
        self.mapping = nn.Conv2d(dim, out_dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, illumination: torch.Tensor) -> torch.Tensor:
        features = self.embedding(x)
        skips, guides = [], []
        for igab, down, down_illumination in self.encoder_layers:
            features = igab(features, illumination)
            skips.append(features)
            guides.append(illumination)
            features, illumination = down(features), down_illumination(illumination)
        features = self.bottleneck(features, illumination)
        for (up, fuse, igab), skip, guide in zip(self.decoder_layers, reversed(skips), reversed(guides)):
            features = igab(fuse(torch.cat([up(features), skip], dim=1)), guide)
        return self.mapping(features) + x


class RetinexFormerStage(nn.Module):
    """One-stage Retinex-based framework: estimate the illumination, light up, restore the corruptions."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_feat: int,
        num_blocks: Sequence[int],
        decoder_blocks: Sequence[int] | None = None,
        attention_norm: bool = False,
        depthwise_9x9: bool = False,
        multiplicative_light_up: bool = False,
    ):
        super().__init__()
        self.multiplicative_light_up = multiplicative_light_up
        self.estimator = IlluminationEstimator(n_feat, in_channels, depthwise_9x9)
        self.denoiser = Denoiser(in_channels, out_channels, n_feat, num_blocks, decoder_blocks, attention_norm)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        feature, light = self.estimator(img)
        lit = img * light if self.multiplicative_light_up else img * light + img
        return self.denoiser(lit, feature)


class Retinexformer(nn.Module):
    """Retinexformer with the official LOL configuration as defaults (1,605,701 parameters).

    Args:
        in_channels, out_channels: image channels; 3 (the estimator's map multiplies the image, and the denoiser
            adds its input back). Packed RAW goes through `lle.models.adapters` (non-original).
        n_feat: channels at full resolution (C; also each attention head's width).
        stage: stages run in sequence (official LOL: 1; the class default in the code is 3).
        num_blocks: IG-MSA/FFN pairs in the IGABs of the two encoder levels and the bottleneck (three numbers:
            the code fixes two levels).
    Variants of the paper that the released code does not have (off by default; the released weights were trained
    without them, and do not load into the first three):
        decoder_blocks: IGAB depths of the decoder, coarse to fine; None mirrors the encoder, (num_blocks[1],
            num_blocks[0]) = (2, 1), as the code does; the figure draws (2, 2).
        attention_norm: a LayerNorm before each IG-MSA, as in the figure's IGAB (the code normalises only before
            the FFN).
        depthwise_9x9: the estimator's middle conv depth-wise 9×9 as drawn, instead of the code's 5×5 in 4 groups.
        multiplicative_light_up: I_lu = I ⊙ L as in the paper's equations, instead of the code's I ⊙ L + I.
    """

    # Two stride-2 convolutions, undone by two 2×2 deconvolutions: the sizes must round-trip. The official test
    # (Enhancement/test_from_dataset.py) reflect-pads at the bottom/right to a multiple of 4 and crops, as here.
    size_multiple = 4
    upscale = 1
    # 40 dB at tile 32 without overlap (its attention pools each tile's own pixels; the convolutions reach past the
    # overlap). From tile 64 with overlap 16 every measurement is ≥ 55.8 dB, trained weights ≥ 59.9: `benchmarks/
    # tiled_seams.py --model retinexformer --size 256 384 --sweep --overlap 0 8 16 32 64` (docs/benchmarks.md).
    min_tile, min_tile_overlap = 64, 16

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        n_feat: int = 40,
        stage: int = 1,
        num_blocks: Sequence[int] = (1, 2, 2),
        decoder_blocks: Sequence[int] | None = None,
        attention_norm: bool = False,
        depthwise_9x9: bool = False,
        multiplicative_light_up: bool = False,
    ):
        super().__init__()
        if in_channels != 3 or out_channels != 3:
            raise ValueError(
                f"Retinexformer takes and returns RGB (3 channels), got in_channels={in_channels}, "
                f"out_channels={out_channels}; wrap it in lle.models.adapters for packed RAW"
            )
        if len(num_blocks) != 3:
            raise ValueError(
                f"num_blocks gives the two encoder levels and the bottleneck (3 numbers), got {num_blocks}"
            )
        if decoder_blocks is not None and len(decoder_blocks) != 2:
            raise ValueError(f"decoder_blocks gives the two decoder levels (2 numbers), got {decoder_blocks}")
        if n_feat % 4 and not depthwise_9x9:
            raise ValueError(f"n_feat must be a multiple of 4 (the estimator's conv has 4 groups), got {n_feat}")
        self.in_channels, self.input_kind = in_channels, kind_of_channels(in_channels)
        self.body = nn.Sequential(
            *(
                RetinexFormerStage(
                    in_channels,
                    out_channels,
                    n_feat,
                    num_blocks,
                    decoder_blocks,
                    attention_norm,
                    depthwise_9x9,
                    multiplicative_light_up,
                )
                for _ in range(stage)
            )
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Official init (Denoiser._init_weights): Linear weights truncated normal, std 0.02 in [-2, 2], zero biases;
        # LayerNorm 1 and 0; convolutions keep PyTorch's default; `rescale` starts at 1.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.size_multiple)
        return crop_to(self.body(x), size)
