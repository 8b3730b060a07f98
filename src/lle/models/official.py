"""Import the weights of official (authors') checkpoints into lle networks.

    net = from_official("mirnet", "pretrained_models/model_enhancement.pth")
    net = from_official("gladnet", "GLADNet/model/")             # a TensorFlow checkpoint folder (or prefix)
    net = from_official("retinexnet", "RetinexNet/model/")       # the folder holding Decom/ and Relight/
    decom = from_official("retinexnet_decom", "RetinexNet/model/Decom")   # reflectance, illumination = decom(x)

What each network's authors release, and the file layout each importer expects, is in docs/official_weights.md.

Loading is exact (`lle.models.checkpoint_files.load_exact`). Each network contributes an importer to `IMPORTERS`;
an importer builds the lle network and names, for each lle state-dict key, the official key(s) it corresponds to.
Importers with more than a key map live in their own file beside this one (`official_cidnet.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from lle.models.absgn import ABSGN
from lle.models.alen import ALEN
from lle.models.checkpoint_files import StateDict, load_exact, read_checkpoint
from lle.models.gladnet import GLADNet
from lle.models.mirnet import MIRNet
from lle.models.mirnet_v2 import MIRNetV2
from lle.models.official_cidnet import import_cidnet
from lle.models.retinexformer import Retinexformer
from lle.models.retinexnet import DecomNet, RetinexNet
from lle.models.tf_checkpoint import TFCheckpointError, read_tf_checkpoint, tf_checkpoint_shapes

# --- MIRNet (swz30/MIRNet, networks/MIRNet_model.py) ----------------------------------------------------------

# Renamed leaves; everything inside the resamplers (`body.{i}.top|bot.{n}`) keeps its official name.
_DAU_LEAVES = {  # lle DAU attribute → official DAU attribute
    "conv1": "body.0",
    "act": "body.1",  # the shared PReLU: one official key per DAU use, all equal
    "conv2": "body.2",
    "spatial_attention.conv": "SA.spatial.conv",
    "channel_attention.squeeze": "CA.conv_du.0",
    "channel_attention.excite": "CA.conv_du.2",
    "fuse": "conv1x1",
}
_SKFF_LEAVES = {"squeeze": "conv_du.0", "act": "conv_du.1", "select": "fcs"}


def _rename(path: str, leaves: Mapping[str, str]) -> str:
    for ours, theirs in leaves.items():
        if path.startswith(ours + "."):
            return theirs + path[len(ours) :]
    raise KeyError(path)


def _mirnet_official_keys(model: MIRNet) -> Callable[[str], list[str]]:
    n_feat = model.conv_in.out_channels
    n_msrb = len(model.groups[0].blocks)
    msrb = model.groups[0].blocks[0]
    channels = [n_feat * 2**j for j in range(msrb.height)]

    def msrb_keys(path: str) -> list[str]:
        """lle MSRB-relative key → official MSRB-relative key(s)."""
        if m := re.fullmatch(r"daus\.(\d+)\.(\d+)\.(.+)", path):
            column, stream, leaf = int(m[1]), m[2], _rename(m[3], _DAU_LEAVES)
            # A shared DAU sits in every official column: `[DAU(C)] * width`.
            columns = range(msrb.width) if msrb.share_dau_columns else [column]
            return [f"blocks.{stream}.{c}.{leaf}" for c in columns]
        if m := re.fullmatch(r"down\.(\d+)_to_(\d+)\.(.+)", path):  # official key: input channels _ scale
            src, dst = int(m[1]), int(m[2])
            return [f"down.{channels[src]}_{2 ** (dst - src)}.{m[3]}"]
        if m := re.fullmatch(r"up\.(\d+)_to_(\d+)\.(.+)", path):
            src, dst = int(m[1]), int(m[2])
            return [f"up.{channels[src]}_{2 ** (src - dst)}.{m[3]}"]
        if m := re.fullmatch(r"output_up\.(\d+)\.(.+)", path):
            return [f"last_up.{m[1]}.{m[2]}"]
        if m := re.fullmatch(r"skff\.(\d+)\.(.+)", path):
            return [f"selective_kernel.{m[1]}.{_rename(m[2], _SKFF_LEAVES)}"]
        if path.startswith("conv_out."):
            return [path]
        raise KeyError(path)

    def official_keys(key: str) -> list[str]:
        if key.startswith(("conv_in.", "conv_out.")):
            return [key]
        if key == "dau_act.weight":
            return []  # reached as `act` inside every DAU
        if m := re.fullmatch(r"groups\.(\d+)\.conv\.(.+)", key):  # RRG: body = [MSRB × n_MSRB, conv]
            return [f"body.{m[1]}.body.{n_msrb}.{m[2]}"]
        if m := re.fullmatch(r"groups\.(\d+)\.blocks\.(\d+)\.(.+)", key):
            return [f"body.{m[1]}.body.{m[2]}.{k}" for k in msrb_keys(m[3])]
        raise KeyError(key)

    return official_keys


def _import_mirnet(source, **overrides) -> MIRNet:
    model = MIRNet(**overrides)
    return load_exact(model, read_checkpoint(source), _mirnet_official_keys(model))


# --- MIRNet-v2 (swz30/MIRNetv2, basicsr/models/archs/mirnet_v2_arch.py): lle keeps the official names -------


def _import_mirnet_v2(source, **overrides) -> MIRNetV2:
    model = MIRNetV2(**overrides)
    return load_exact(model, read_checkpoint(source), lambda key: [key])


# --- Retinexformer (caiyuanhao1998/Retinexformer, pretrained_weights/*.pth): lle keeps the official names --------

# The LayerNorms that `attention_norm=True` (the paper's figure) adds before IG-MSA: the released code has none.
_RETINEXFORMER_FIGURE_ONLY = re.compile(r"\.blocks\.\d+\.0\.norm\.")


def _retinexformer_official_key(key: str) -> list[str]:
    if _RETINEXFORMER_FIGURE_ONLY.search(key):
        raise KeyError(key)  # no counterpart in the released model: load_exact names it
    return [key]


def _import_retinexformer(source, **overrides) -> Retinexformer:
    """BasicSR's `{"params": state_dict}`; every released option file (LOL v1/v2, SID, SMID, SDSD, FiveK) builds
    `Retinexformer()`'s defaults, `overrides` are for other configurations."""
    return load_exact(Retinexformer(**overrides), read_checkpoint(source), _retinexformer_official_key)


# --- ABSGN (paullenwyue/ABSGNet, model.py) ----------------------------------------------------------------

# The fixed Haar filters pytorch_wavelets registers as buffers (DWTForward h*, DWTInverse g*); lle computes the
# transform without them, so they are checked, not loaded.
_ABSGN_WAVELET_BUFFERS = tuple(
    f"{module}.{bank}{band}_{axis}"
    for module, bank in (("DWT", "h"), ("IDWT", "g"))
    for band in "01"
    for axis in ("col", "row")
)
_MGDB_LEAVES = {  # lle MGDB attribute → official (conv, act) numbers
    "branch_d4": 1,
    "branch_d2": 2,
    "branch_d1": 3,
    "fuse_dilated": 4,
    "fuse_local": 5,
    "fuse": 6,
}


def _absgn_official_key(key: str) -> list[str]:
    if m := re.fullmatch(r"(feat\d+)\.0\.(weight|bias)", key):
        return [f"{m[1]}.conv.{m[2]}"]
    if m := re.fullmatch(r"(feat\d+)\.1\.weight", key):
        return [f"{m[1]}.act.weight"]
    if m := re.fullmatch(r"gsa\.(conv1|conv2)\.(weight|bias)", key):
        return [f"GSA.{m[1]}.conv.{m[2]}"]
    if key == "gsa.spatial.0.weight":
        return ["GSA.spa.spatial.conv.weight"]
    if m := re.fullmatch(r"mgdb(\d)\.(\w+)\.([01])\.(weight|bias)", key):
        n = _MGDB_LEAVES[m[2]]
        return [f"MGDB_{m[1]}.conv{n}.{m[4]}" if m[3] == "0" else f"MGDB_{m[1]}.act{n}.weight"]
    if m := re.fullmatch(r"mgdb(\d)\.attention\.(squeeze|excite)\.(weight|bias)", key):
        return [f"MGDB_{m[1]}.CA.conv_du.{0 if m[2] == 'squeeze' else 2}.{m[3]}"]
    raise KeyError(key)


def _non_haar_buffers(state: StateDict) -> list[str]:
    """Wavelet buffers of the checkpoint that are not the Haar filters lle's transform implements."""
    s = 2**-0.5
    expected = {"h0": (s, s), "h1": (s, -s), "g0": (s, s), "g1": (s, -s)}  # as stored (pytorch_wavelets 1.3)
    wrong = []
    for key in _ABSGN_WAVELET_BUFFERS:
        if key not in state:
            continue
        value = state[key].double().flatten()
        bank = key.split(".")[1][:2]
        if state[key].numel() != 2 or not torch.allclose(value, torch.tensor(expected[bank]).double(), atol=1e-6):
            wrong.append(key)
    return wrong


def _import_absgn(source, **overrides) -> ABSGN:
    state = read_checkpoint(source)
    missing = [k for k in _ABSGN_WAVELET_BUFFERS if k not in state]
    wrong = _non_haar_buffers(state)
    if missing and len(missing) < len(_ABSGN_WAVELET_BUFFERS):  # all absent: a state dict saved without buffers
        raise ValueError("cannot load the official checkpoint exactly:\n  missing keys: " + ", ".join(missing))
    if wrong:
        raise ValueError(
            "cannot load the official checkpoint exactly:\n  wavelet filters that are not pytorch_wavelets' Haar "
            "filters (lle implements the Haar transform): " + ", ".join(wrong)
        )
    network = {k: v for k, v in state.items() if k not in _ABSGN_WAVELET_BUFFERS}
    return load_exact(ABSGN(**overrides), network, _absgn_official_key)


# --- ALEN (Justones/ALEN, model.py::EnhanceNet) ------------------------------------------------------------

# The official space_to_depth stacks the 2×2 phases block-major as (0,0), (0,1), (1,1), (1,0); lle's
# PixelUnshuffle puts phase dy·2+dx of channel c at 4c + dy·2+dx: official phase block of each lle phase.
_ISL_PHASE_BLOCK = [0, 1, 3, 2]


def _alen_official_key(key: str) -> list[str]:
    stage = {"inc": "inc.", "enc1": "layer1.", "enc2": "layer2.", "enc3": "layer3.", "dec1": "layer4.0.",
             "dec2": "layer5.0.", "dec3": "layer6.0."}  # fmt: skip
    if m := re.fullmatch(r"(up\d|out\.0)\.(weight|bias)", key):
        return ["output.0." + m[2] if m[1] == "out.0" else key]
    head, _, rest = key.partition(".")
    prefix = stage[head]
    if head.startswith("enc"):
        if rest.startswith("0.conv."):  # the inverted shuffle layer's 1×1 conv (paper variant)
            return [prefix + "0." + rest.removeprefix("0.conv.")]
        rest = rest.removeprefix("1.")
        rest = rest.replace("nonlocal_attention.", "nonlocalblock.")
        rest = rest.replace("attention.squeeze.", "seblock.fc.0.").replace("attention.excite.", "seblock.fc.2.")
        return [prefix + "1." + rest]
    # CAB + conv blocks (official single_block): conv1 = [seblock, conv, LReLU], conv2 = [conv, LReLU].
    rest = rest.replace("attention.squeeze.", "conv1.0.fc.0.").replace("attention.excite.", "conv1.0.fc.2.")
    rest = re.sub(r"^conv1\.0\.(weight|bias)$", r"conv1.1.\1", rest)
    return [prefix + rest]


def _import_alen(source, **overrides) -> ALEN:
    state = read_checkpoint(source)
    isl = "layer1.0.weight" in state  # the released code has MaxPool2d(2) there, without parameters
    found = "isl" if isl else "maxpool"
    asked = overrides.setdefault("downsample", found)
    if asked != found:
        raise ValueError(
            f"downsample={asked!r} was asked for, but the checkpoint is the {found!r} variant "
            + (
                "(the released code's max-pool: no layer1.0.weight)"
                if found == "maxpool"
                else "(it has layer1.0.weight)"
            )
        )
    model = ALEN(**overrides)
    converted = {}
    for key, value in state.items():
        if re.search(r"(seblock|conv1\.0)\.fc\.[02]\.weight$", key) and value.dim() == 2:
            value = value[:, :, None, None]  # nn.Linear on pooled features = a 1×1 conv
        elif isl and re.fullmatch(r"layer\d\.0\.weight", key) and value.dim() == 4 and value.shape[1] % 4 == 0:
            out, c4 = value.shape[:2]
            value = value.reshape(out, 4, c4 // 4)[:, _ISL_PHASE_BLOCK].transpose(1, 2).reshape(out, c4, 1, 1)
        converted[key] = value
    return load_exact(model, converted, _alen_official_key)


# --- TensorFlow networks: GLADNet (weichen582/GLADNet) and Retinex-Net (weichen582/RetinexNet) ---------------

# Variables a tf.train.Saver checkpoint holds besides the network: Adam's slots and beta powers, the step.
_TF_TRAINING_STATE = re.compile(
    r"(.*/(AdamOptimizer|Adam|Momentum)(_\d+)?|beta[12]_power(_\d+)?|Variable(_\d+)?|global_step)"
)


def _tf_layer_name(index: int) -> str:
    """`tf.layers.conv2d`'s automatic names in one scope: conv2d, conv2d_1, conv2d_2, …"""
    return "conv2d" if index == 0 else f"conv2d_{index}"


def _tf_to_torch(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """TF kernels are H×W×in×out; torch convolutions out×in×H×W."""
    out = {}
    for name, array in arrays.items():
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        out[name] = (
            tensor.permute(3, 2, 0, 1).contiguous() if name.endswith("/kernel") and tensor.dim() == 4 else tensor
        )
    return out


def _tf_network_variables(source, scope: str) -> dict[str, torch.Tensor]:
    """The non-training-state variables under `scope/` of a TF checkpoint (a path: read and checksummed; or a
    mapping of TF names to arrays in TF layout), as torch tensors."""
    names = list(source) if isinstance(source, Mapping) else list(tf_checkpoint_shapes(source))
    names = [n for n in names if n.startswith(scope + "/") and not _TF_TRAINING_STATE.fullmatch(n)]
    if isinstance(source, Mapping):
        return _tf_to_torch({n: np.asarray(source[n]) for n in names})
    return _tf_to_torch(read_tf_checkpoint(source, names))


def _gladnet_official_key(model: GLADNet) -> Callable[[str], list[str]]:
    n_enc, n_dec = len(model.encoder), len(model.decoder)

    def official_keys(key: str) -> list[str]:
        part, index, leaf = key.split(".")
        index = int(index)
        # Graph order in FG: encoder convs, decoder convs, then the detail convs (every other Sequential entry).
        layer = {"encoder": index, "decoder": n_enc + index, "detail": n_enc + n_dec + index // 2}[part]
        return [f"FG/{_tf_layer_name(layer)}/{'kernel' if leaf == 'weight' else 'bias'}"]

    return official_keys


def _tf_source(source, what: str):
    if isinstance(source, Mapping):
        return None
    path = Path(source)
    if not path.exists() and not Path(str(path) + ".index").exists():
        raise FileNotFoundError(f"{path}: no such file or folder ({what})")
    return path


def _import_gladnet(source, **overrides) -> GLADNet:
    path = _tf_source(source, "GLADNet's TensorFlow checkpoint folder, e.g. GLADNet/model/")
    state = _tf_network_variables(source if path is None else path, "FG")
    model = GLADNet(**overrides)
    return load_exact(model, state, _gladnet_official_key(model))


_RELIGHT_LAYERS = ["conv0", "conv1", "conv2", "conv3", "deconv1", "deconv2", "deconv3", "feature_fusion", "output"]


def _retinexnet_official_key(key: str) -> list[str]:
    net, rest = key.split(".", 1)
    leaf = "kernel" if rest.endswith("weight") else "bias"
    layer = rest.rsplit(".", 1)[0]
    if net == "decom":
        layer = re.sub(r"activated_layers\.(\d+)", r"activated_layer_\1", layer)
        return [f"DecomNet/{layer}/{leaf}"]
    return [f"RelightNet/{_tf_layer_name(_RELIGHT_LAYERS.index(layer))}/{leaf}"]


def _import_retinexnet(source, **overrides) -> RetinexNet:
    """DecomNet from `<folder>/Decom`, RelightNet from `<folder>/Relight`, as the official test() restores them
    (each file also holds the other network, from another stage of training, and a DenoiseNet: ignored)."""
    path = _tf_source(source, "Retinex-Net's model/ folder, holding Decom/ and Relight/")
    if path is None:
        state = {**_tf_network_variables(source, "DecomNet"), **_tf_network_variables(source, "RelightNet")}
    else:
        if not (path / "Decom").is_dir() or not (path / "Relight").is_dir():
            raise ValueError(
                f"{path}: expected Retinex-Net's model folder holding Decom/ and Relight/ (the two TensorFlow "
                "checkpoint folders of the official release)"
            )
        decom = _tf_network_variables(path / "Decom", "DecomNet")
        try:
            relight = _tf_network_variables(path / "Relight", "RelightNet")
        except TFCheckpointError as err:
            # Copies of the release often lack Relight's data shard (its largest file): say what still loads.
            raise TFCheckpointError(
                f"{err}\n  Retinex-Net's enhancement needs both checkpoints. Decom/ alone loads as the "
                f"decomposition into reflectance and illumination: official:retinexnet_decom:{path / 'Decom'}"
            ) from err
        state = {**decom, **relight}
    return load_exact(RetinexNet(**overrides), state, _retinexnet_official_key)


def _import_retinexnet_decom(source, **overrides) -> DecomNet:
    """Retinex-Net's DecomNet alone, from `<folder>/Decom` (or the model folder holding it): an image's reflectance
    and illumination, `reflectance, illumination = net(x)`. Not an enhancer: the relighting is RelightNet's."""
    path = _tf_source(source, "Retinex-Net's Decom/ checkpoint folder")
    if path is not None and (path / "Decom").is_dir():
        path = path / "Decom"
    state = _tf_network_variables(source if path is None else path, "DecomNet")
    return load_exact(DecomNet(**overrides), state, lambda key: _retinexnet_official_key(f"decom.{key}"))


# Model name (as in `conf/model/`) → importer(path or state dict, **constructor overrides) → loaded lle network.
IMPORTERS: dict[str, Callable[..., nn.Module]] = {
    "absgn": _import_absgn,
    "alen": _import_alen,
    "gladnet": _import_gladnet,
    "mirnet": _import_mirnet,
    "mirnet_v2": _import_mirnet_v2,
    "retinexnet": _import_retinexnet,
    "retinexnet_decom": _import_retinexnet_decom,
    "retinexformer": _import_retinexformer,
    "cidnet": import_cidnet,
}

# Importers whose network is not an enhancer (it returns several maps): not for lle-enhance or lle-eval.
DECOMPOSITIONS = frozenset({"retinexnet_decom"})

# Keys only one network's official checkpoint has, to name the network of a file given to the wrong importer.
_SIGNATURES = {
    "gladnet": "FG/conv2d/kernel",
    "retinexnet": "DecomNet/shallow_feature_extraction/kernel",
    "absgn": "MGDB_1.conv1.weight",
    "alen": "inc.conv1.0.fc.0.weight",
    "mirnet_v2": "body.0.body.0.dau_top.body.0.weight",
    "mirnet": "body.0.body.0.blocks.0.0.body.0.weight",
    "retinexformer": "body.0.estimator.conv1.weight",
    "cidnet": "trans.density_k",  # the HVI transform's trainable exponent
}


def _guess_network(source) -> str | None:
    """The network whose official checkpoint `source` looks like, or None."""
    try:
        if isinstance(source, Mapping):
            keys = set(source)
        elif Path(source).is_dir() and (Path(source) / "Decom").is_dir():
            return "retinexnet"
        elif Path(source).is_dir() or Path(str(source) + ".index").is_file():
            keys = set(tf_checkpoint_shapes(source))
        else:
            keys = set(read_checkpoint(source))
    except (OSError, ValueError):
        return None
    return next((name for name, key in _SIGNATURES.items() if key in keys), None)


def from_official(name: str, path_or_state_dict: str | PathLike | StateDict, **overrides) -> nn.Module:
    """The lle network `name` with the weights of an official checkpoint (a file, a folder, or a state dict).

    The path is what the authors release: the .pth/.pkl file (MIRNet, MIRNet-v2, ABSGN, ALEN), the TensorFlow
    checkpoint folder or prefix (GLADNet), the folder holding Decom/ and Relight/ (Retinex-Net), or Decom/ alone
    for `retinexnet_decom` (Retinex-Net's decomposition network, which returns reflectance and illumination).
    `overrides` are constructor arguments for checkpoints trained in a non-default configuration, e.g.
    `share_dau_columns=False` to fine-tune MIRNet with independent DAUs starting from the official weights.
    """
    if name not in IMPORTERS:
        raise ValueError(f"no importer for {name!r}; importers exist for: {', '.join(sorted(IMPORTERS))}")
    try:
        return IMPORTERS[name](path_or_state_dict, **overrides)
    except (ValueError, TFCheckpointError) as err:
        guess = _guess_network(path_or_state_dict)
        if guess is not None and guess != name:
            raise ValueError(
                f"these look like the official weights of {guess}, not {name}: use official:{guess}:… "
                f"(from_official({guess!r}, …))\n  {err}"
            ) from err
        raise


# How the official test code feeds each network, for inference from official weights (lle-enhance reads it).
OFFICIAL_DATA_CONFIG: dict[str, dict] = {
    # SID Sony levels; the packed RAW is multiplied by the exposure ratio and not clipped (dataset.py).
    "alen": {"black": 512, "white": 16383, "clip_input": False},
}
