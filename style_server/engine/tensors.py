"""Conversions between PIL pictures and torch tensors, and device choice."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .errors import InvalidParameter


def to_tensor(img: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB picture -> float tensor 1x3xHxW in [0, 1]."""
    array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_image(tensor: torch.Tensor) -> Image.Image:
    """Tensor 1x3xHxW or 3xHxW in [0, 1] -> RGB picture."""
    if tensor.dim() == 4:
        tensor = tensor[0]
    array = tensor.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((array * 255.0 + 0.5).astype(np.uint8))


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA when present; naming a device that is not there is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidParameter("device 'cuda' was requested but no CUDA GPU is available; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise InvalidParameter(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)
