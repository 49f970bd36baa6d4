"""The Gatys optimiser on a real portrait and painting, at thumbnail sizes so the suite stays quick."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from style_server.engine.errors import Cancelled, InvalidParameter
from style_server.engine.gatys import GatysOptimizer, make_params
from style_server.engine.losses import gram, style_targets
from style_server.engine.tensors import to_tensor

FAST = {"size": 96, "iterations": 15, "multiscale": False}


@pytest.fixture(scope="module")
def gatys(vgg):
    """In fp32 on every CPU, so these mechanics give the same figures everywhere (bfloat16: the tests at the end)."""
    return GatysOptimizer(vgg, torch.device("cpu"), precision="fp32")


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_both_optimisers_lower_the_loss(gatys, small_portrait, starry_night, optimizer):
    result = gatys.run(small_portrait, [(starry_night, 1.0)], make_params(**FAST, optimizer=optimizer))
    assert result.iterations >= 5
    assert result.history[-1] < 0.6 * result.history[0]
    assert result.image.size == (96, 96)
    assert set(result.losses) == {"content", "style", "tv", "total"}


def test_seeded_runs_are_identical_and_seeds_matter(gatys, small_portrait, starry_night):
    params = make_params(**{**FAST, "iterations": 5}, init="noise", seed=7)
    first = gatys.run(small_portrait, [(starry_night, 1.0)], params).image
    again = gatys.run(small_portrait, [(starry_night, 1.0)], params).image
    other = gatys.run(small_portrait, [(starry_night, 1.0)], params.model_copy(update={"seed": 8})).image
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_the_fast_start_mixes_in_its_share_of_the_photo(engine, small_portrait, starry_night):
    """The optimiser starts from the fast network's painting with ``start_photo_share`` of the photo mixed in: all
    of the photo is the photo start, none of it the painting alone."""
    gatys = engine.gatys()

    def one_step(**values) -> np.ndarray:
        params = make_params(**{**FAST, "iterations": 1}, **values)
        return pixels(gatys.run(small_portrait, [(starry_night, 1.0)], params).image)

    photo_start = one_step(init="content")
    assert np.array_equal(one_step(start_photo_share=1.0), photo_start)
    painting, mixed = one_step(start_photo_share=0.0), one_step()
    assert not np.array_equal(painting, photo_start) and not np.array_equal(mixed, painting)
    assert np.abs(mixed - photo_start).mean() < np.abs(painting - photo_start).mean()


def test_early_stop_ends_a_stalled_run(gatys, small_portrait, starry_night):
    # a tolerance of 100% can never be met, so the run stops after `patience` steps without gain
    params = make_params(**{**FAST, "iterations": 50}, early_stop_patience=2, early_stop_tolerance=1.0)
    assert gatys.run(small_portrait, [(starry_night, 1.0)], params).iterations == 3


def test_coarse_to_fine_plan_and_progress(gatys, small_portrait, starry_night):
    # the default: the fast network's painting refined at full size (coarse scales would blur its brushwork)
    assert make_params(size=1024).scales() == [(1024, 16)]
    # from the photo: most steps at the coarsest scale (128 px), a quarter of them at each finer one
    coarse = {"multiscale": True, "init": "content", "iterations": 200}
    assert make_params(size=1024, **coarse).scales() == [(128, 200), (256, 50), (512, 12), (1024, 3)]
    assert make_params(size=1024, coarsest_side=256, refine_share=0.5, **coarse).scales() == [
        (256, 200),
        (512, 100),
        (1024, 50),
    ]
    assert make_params(size=400, coarsest_side=256, **coarse).scales() == [(400, 200)]
    seen = []
    params = make_params(size=128, multiscale=True, coarsest_side=64, iterations=6, preview_every=3)
    result = gatys.run(small_portrait, [(starry_night, 1.0)], params, on_progress=seen.append)
    assert {p.level for p in seen} == {0, 1} and all(p.levels == 2 for p in seen)
    assert [p.iteration for p in seen] == list(range(1, len(seen) + 1))
    previews = [p.preview for p in seen if p.preview is not None]
    assert previews and previews[0].size == (64, 64) and previews[-1].size == (128, 128)
    assert result.image.size == (128, 128)


def test_cancellation_stops_the_run(gatys, small_portrait, starry_night):
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        gatys.run(
            small_portrait,
            [(starry_night, 1.0)],
            make_params(**FAST),
            on_progress=lambda p: cancel.set(),
            cancel=cancel,
        )


@pytest.mark.slow
def test_colour_preservation_keeps_the_portraits_chroma(gatys, small_portrait, starry_night):
    def chroma_error(img):
        photo = small_portrait.resize(img.size).convert("YCbCr")
        return np.abs(pixels(img.convert("YCbCr"))[..., 1:] - pixels(photo)[..., 1:]).mean()

    styled = gatys.run(small_portrait, [(starry_night, 1.0)], make_params(**FAST)).image
    kept = gatys.run(small_portrait, [(starry_night, 1.0)], make_params(**FAST, preserve_color=True)).image
    assert chroma_error(kept) < 0.3 * chroma_error(styled)


@pytest.mark.slow
def test_face_protection_keeps_the_face_closer_to_the_photo(gatys, portrait, starry_night):
    face = (55, 20, 95, 60)  # the astronaut's face at 160 px
    photo = portrait.resize((160, 160))

    def face_change(img):
        return np.abs(pixels(img.crop(face)) - pixels(photo.crop(face))).mean()

    params = {"size": 160, "iterations": 20, "multiscale": False}
    plain = gatys.run(photo, [(starry_night, 1.0)], make_params(**params)).image
    protected = gatys.run(photo, [(starry_night, 1.0)], make_params(**params, face_protect=True)).image
    assert face_change(protected) < 0.8 * face_change(plain)


def test_style_blend_weights_mix_the_gram_targets(vgg, small_portrait, starry_night):
    a, b = to_tensor(starry_night.resize((96, 96))), to_tensor(small_portrait.resize((96, 96)))
    only_a = style_targets(vgg, [(a, 1.0), (b, 0.0)], ["relu2_1"])["relu2_1"]
    mixed = style_targets(vgg, [(a, 3.0), (b, 1.0)], ["relu2_1"])["relu2_1"]
    ga, gb = gram(vgg(a, ["relu2_1"])["relu2_1"]), gram(vgg(b, ["relu2_1"])["relu2_1"])
    torch.testing.assert_close(only_a, ga)
    torch.testing.assert_close(mixed, 0.75 * ga + 0.25 * gb)


def test_the_gram_gradient_is_autograds_in_one_product():
    """``gram`` forms its gradient as (dG + dG^T) F, one product instead of autograd's two: checked against
    finite differences, with and without a weight map."""
    features = torch.rand(2, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    weights = torch.rand(2, 1, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(gram, (features.requires_grad_(True),))
    assert torch.autograd.gradcheck(lambda f: gram(f, weights), (features,))


def test_the_loss_network_is_channels_last_only_on_cuda(vgg):
    """oneDNN ran the loss network no faster in NHWC (fp32 3-11 % slower, bench_masterpiece); cuDNN gains."""
    assert not GatysOptimizer(vgg, torch.device("cpu")).channels_last
    assert GatysOptimizer(vgg, torch.device("cpu"), channels_last=True).channels_last


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": 10}, "size"),
        ({"iterations": 0}, "iterations"),
        ({"style_weight": -1}, "style_weight"),
        ({"content_weight": 0, "style_weight": 0}, "cannot both be 0"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"colour": True}, "colour"),
    ],
)
def test_impossible_parameters_are_refused(values, message):
    with pytest.raises(InvalidParameter, match=message):
        make_params(**values)


def test_unknown_layers_and_missing_styles_are_refused(gatys, small_portrait, starry_night):
    with pytest.raises(InvalidParameter, match="unknown VGG layers"):
        gatys.run(small_portrait, [(starry_night, 1.0)], make_params(**FAST, style_layers=("relu9_9",)))
    with pytest.raises(InvalidParameter, match="at least one style image"):
        gatys.run(small_portrait, [], make_params(**FAST))


def test_the_loss_network_runs_in_bfloat16_only_where_the_hardware_has_the_kernels():
    """On an AVX2-only CPU bfloat16 autocast was 27x slower than fp32: it is chosen only with the kernels."""
    from style_server.engine.precision import reduced_dtype

    cpu = torch.device("cpu")
    assert reduced_dtype(cpu, "auto", cpu_bf16=False) is None
    assert reduced_dtype(cpu, "auto", cpu_bf16=True) is torch.bfloat16
    assert reduced_dtype(cpu, "fp32", cpu_bf16=True) is None


def test_a_masterpiece_takes_fewer_steps_where_its_loss_network_runs_fp32(tmp_path):
    """A CPU running fp32 (an AVX2-only CPU) affords 14 L-BFGS steps in the time the goal allows, bfloat16 16; a
    setting wins."""
    from style_server.config import Settings, engine_from_settings
    from style_server.engine.precision import cpu_has_bf16_kernels

    def engine(**settings):
        return engine_from_settings(Settings(data_dir=tmp_path, **settings), "cpu")  # lazy: no network loaded

    assert engine(gatys_precision="fp32").masterpiece_iterations() == 14
    assert engine().masterpiece_iterations() == (16 if cpu_has_bf16_kernels() else 14)
    assert engine(gatys_precision="fp32", gatys_iterations=20).masterpiece_iterations() == 20


def test_a_cpu_held_to_avx2_has_no_bfloat16_kernels_and_the_loss_network_runs_fp32():
    """The real oneDNN asked, in a process held to AVX2 as an AVX2-only CPU is: it offers no bfloat16 kernels, and the
    optimiser runs fp32."""
    import platform
    import subprocess
    import sys
    from pathlib import Path

    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() != "x86_64" or not cpuinfo.exists() or " avx2" not in cpuinfo.read_text():
        pytest.skip("not an x86-64 CPU with AVX2: there is nothing to hold it to")

    probe = (
        "import torch; from style_server.engine.precision import cpu_has_bf16_kernels, reduced_dtype; "
        "print(torch.backends.cpu.get_cpu_capability(), cpu_has_bf16_kernels(), reduced_dtype(torch.device('cpu')))"
    )
    env = os.environ | {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["AVX2", "False", "None"]


@pytest.mark.slow
def test_bfloat16_paints_like_fp32(vgg, small_portrait, starry_night):
    """Where the CPU has bfloat16 kernels the optimiser uses them; its features come back as fp32 (the Grams and
    the losses are summed in full precision) and it reaches fp32's losses within a few percent."""
    from style_server.engine.precision import cpu_has_bf16_kernels

    if not cpu_has_bf16_kernels():
        pytest.skip("this CPU has no bfloat16 kernels (AVX2 only): the optimiser runs fp32, as the test above shows")
    cpu = torch.device("cpu")
    reduced, full = GatysOptimizer(vgg, cpu, precision="auto"), GatysOptimizer(vgg, cpu, precision="fp32")
    assert reduced.reduced is torch.bfloat16 and full.reduced is None
    x = to_tensor(small_portrait, cpu)
    assert all(f.dtype == torch.float32 for f in reduced.features(x, ["relu1_1", "relu4_2"]).values())
    params = make_params(**FAST)
    losses = [opt.run(small_portrait, [(starry_night, 1.0)], params).losses for opt in (reduced, full)]
    for name in ("content", "style"):
        assert losses[0][name] == pytest.approx(losses[1][name], rel=0.1), (name, losses)
