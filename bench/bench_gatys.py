"""Gatys speed: time for our default recipe to reach the loss the seed recipe reaches.

Seed recipe: Adam, 1000 iterations, lr 0.02 on [0,1] pixels (the common choice), single scale, same
alpha/beta/gamma and layers, started from the photo, plain NCHW convolutions. Ours: the defaults of GatysParams
(L-BFGS, started from the fast network's painting with some of the photo mixed in) on the engine's optimiser
(channels-last), stopped as soon as its total loss is at or below the seed's final loss. Prints both times and
the ratio (target <= 0.2).
Run: python bench/bench_gatys.py [--size 128] [--seed-iterations 1000]
"""

from __future__ import annotations

import argparse
import time

import torch
from PIL import Image
from skimage import data

from style_server.config import BUILTIN_MODELS, engine_from_settings, get_settings
from style_server.engine.gatys import GatysOptimizer, make_params


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed-iterations", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    engine = engine_from_settings(get_settings(), device=args.device)
    vgg, source = engine.vgg()
    engine.fast.warm_up()
    seed_optimizer = GatysOptimizer(vgg, device, channels_last=False, cache_grams=False)
    content = Image.fromarray(data.astronaut())
    style = Image.open(BUILTIN_MODELS / "paintings" / "starry-night" / "style.jpg").convert("RGB")

    seed_params = make_params(
        size=args.size,
        optimizer="adam",
        learning_rate=0.02,
        iterations=args.seed_iterations,
        multiscale=False,
        early_stop_patience=args.seed_iterations,
        init="content",
    )
    started = time.perf_counter()
    seed = seed_optimizer.run(content, [(style, 1.0)], seed_params)
    seed_seconds = time.perf_counter() - started
    target = seed.history[-1]

    ours_params = make_params(size=args.size, iterations=args.seed_iterations, early_stop_patience=50)
    started = time.perf_counter()
    ours = engine.gatys().run(content, [(style, 1.0)], ours_params, stop_at_loss=target)
    ours_seconds = time.perf_counter() - started
    reached = ours.history[-1] <= target

    print(f"device {device}, {args.size} px, loss network: {source.origin}")
    print(f"seed (adam, {seed.iterations} it): {seed_seconds:8.1f} s  final loss {target:.4f}")
    print(
        f"ours (lbfgs, {ours.iterations} it): {ours_seconds:8.1f} s  final loss {ours.history[-1]:.4f}"
        f"{'' if reached else '  (did NOT reach the seed loss)'}"
    )
    print(f"ratio ours/seed: {ours_seconds / seed_seconds:.3f}")


if __name__ == "__main__":
    main()
