"""500 kiosks against the NATS booth on loopback, at a visitor's pace: issue 23's bounded load run, with its goals.

The cluster, the API nodes, the mailer, the simulated workers and the kiosks are ``bench_scale.py``'s (its
docstring says what is real and what is simulated); this runs only its many-kiosk phase and judges it. Each kiosk
posts a masterpiece, follows its event stream to the end, then waits a visitor's turn (0.5-1.5 times ``--pace``)
before the next post, so the load is what a floor of kiosks offers, not a closed loop that saturates the machine.

Goals (issue 23): POST p50 at most 2 s, done -> kiosk p50 at most 1 s, 0 jobs lost, 0 errors other than
deliberate 429/503 with a Retry-After (a POST that broke off and was sent again counts as an error).

Run: python bench/bench_kiosks.py [--kiosks 500] [--pace 120] [--workers 16] [--paint-seconds 2] [--window 60]
     [--single-node] [--json FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import bench_scale

GOALS = (  # figure, how it reads, the most it may be
    ("median_post_ms", "POST p50 (ms)", 2000.0),
    ("median_notify_ms", "done -> kiosk p50 (ms)", 1000.0),
    ("lost", "jobs lost", 0),
    ("broke_off", "errors (posts that broke off)", 0),
)


def verdicts(figures: dict[str, Any]) -> list[tuple[str, Any, float, bool]]:
    """(goal, measured, limit, met) for the many-kiosk phase of a ``bench_scale`` run."""
    [phase] = figures["phases"]
    measured = {**phase, "broke_off": figures["broke_off"]}
    return [
        (label, measured[key], limit, measured[key] is not None and measured[key] <= limit)
        for key, label, limit in GOALS
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiosks", type=int, default=500)
    parser.add_argument("--pace", type=float, default=120.0, help="seconds of a visitor's turn at a kiosk")
    parser.add_argument("--workers", type=int, default=16, help="simulated masterpiece workers")
    parser.add_argument("--paint-seconds", type=float, default=2.0, help="simulated GPU seconds per masterpiece")
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--single-node", action="store_true", help="one NATS server instead of a 3-node cluster")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()
    offered = args.kiosks / (args.pace + args.paint_seconds)  # a kiosk's cycle: its turn (mean: pace) and the job
    print(f"offered: about {offered:.1f} jobs/s; the workers paint up to {args.workers / args.paint_seconds:.1f}")
    argv = ["--workers", "", "--fast-workers", "", "--no-real", "--window", str(args.window)]
    argv += ["--many-kiosks", str(args.kiosks), "--kiosk-pace", str(args.pace), "--many-workers", str(args.workers)]
    argv += ["--many-seconds", str(args.paint_seconds), *(["--single-node"] if args.single_node else [])]
    figures = bench_scale.main(argv + (["--json", str(args.json)] if args.json else []))
    print("\n| goal | measured | at most | met |\n|---|---|---|---|")
    for label, value, limit, met in verdicts(figures):
        print(f"| {label} | {value} | {limit:g} | {'yes' if met else '**no**'} |")


if __name__ == "__main__":
    main()
