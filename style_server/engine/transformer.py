"""The transform network of Johnson et al. (2016), with the later fixes everyone uses: instance norm
(Ulyanov et al.), reflection padding, and resize-convolution upsampling (no checkerboard artefacts)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import WeightsUnavailable


class ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, upsample: bool = False, norm: bool = True):
        super().__init__()
        self.upsample, self.pad = upsample, k // 2
        self.conv = nn.Conv2d(cin, cout, k, stride)
        self.norm = nn.InstanceNorm2d(cout, affine=True) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.norm(self.conv(F.pad(x, [self.pad] * 4, mode="reflect")))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a, self.b = ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.relu(self.a(x)))


class TransformNet(nn.Module):
    """RGB [0,1] -> stylised RGB [0,1]. ``width`` 32 is the paper's network; 16 is 4x cheaper."""

    def __init__(self, width: int = 32, residual_blocks: int = 5) -> None:
        super().__init__()
        self.width = width
        self.down = nn.ModuleList(
            [ConvLayer(3, width, 9), ConvLayer(width, 2 * width, 3, 2), ConvLayer(2 * width, 4 * width, 3, 2)]
        )
        self.res = nn.Sequential(*(ResidualBlock(4 * width) for _ in range(residual_blocks)))
        self.up = nn.ModuleList(
            [ConvLayer(4 * width, 2 * width, 3, upsample=True), ConvLayer(2 * width, width, 3, upsample=True)]
        )
        self.out = ConvLayer(width, 3, 9, norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.down:
            x = F.relu(layer(x))
        x = self.res(x)
        for layer in self.up:
            x = F.relu(layer(x))
        return torch.sigmoid(self.out(x))


def save_transform_net(net: TransformNet, path: Path, half: bool = True) -> None:
    """Inference weights only; fp16 halves the file with no visible change."""
    state = {k: (v.half() if half else v).contiguous().cpu() for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"arch": "johnson", "width": str(net.width)})


def load_transform_net(path: Path) -> TransformNet:
    if not path.is_file():
        raise WeightsUnavailable(f"trained style weights {path} are missing")
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        width = int((handle.metadata() or {}).get("width", 32))
    net = TransformNet(width)
    net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return net.eval().requires_grad_(False)
