"""Which precision the loss network runs in, following the hardware.

On a CPU with bfloat16 kernels (AVX-512 BF16 or AMX: oneDNN says so), bfloat16 autocast ran the 512 px VGG work
about 2.3-3 times faster than fp32; on an AVX2-only CPU, with no such kernels, it was 27 times *slower*. So
bfloat16 only where the kernels exist. Only the convolutions run reduced: features come back as fp32, and the
Gram matrices, the loss sums and the optimiser's state stay fp32. On CUDA, bfloat16 where the GPU has it (its
range holds VGG's activations on the caffe 0-255 scale; float16's would not), else fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

Precision = Literal["auto", "fp32"]


def cpu_has_bf16_kernels() -> bool:
    """Whether oneDNN runs bfloat16 convolutions natively on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def reduced_dtype(device: torch.device, policy: Precision = "auto", cpu_bf16: bool | None = None) -> torch.dtype | None:
    """The dtype to autocast the loss network to on ``device``, or None for fp32. ``cpu_bf16``: the CPU's
    capability when known (default: asked of oneDNN)."""
    if policy == "fp32":
        return None
    if device.type == "cuda":  # native bfloat16 from compute capability 8 (Ampere) on; older cards emulate it
        return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else None
    if device.type == "cpu":
        has_kernels = cpu_has_bf16_kernels() if cpu_bf16 is None else cpu_bf16
        return torch.bfloat16 if has_kernels else None
    return None


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Autocast to ``dtype`` on ``device``; nothing at all for None (fp32)."""
    if dtype is None:
        yield
        return
    with torch.autocast(device.type, dtype=dtype):
        yield


def describe_cpu() -> str:
    """The CPU's vector capability as torch sees it, and whether it has bfloat16 kernels (for benchmarks)."""
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability}, bfloat16 kernels: {'yes' if cpu_has_bf16_kernels() else 'no'}"
