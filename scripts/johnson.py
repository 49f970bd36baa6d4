"""Johnson networks for the catalogue paintings: build the content photos, train in
resumable chunks, then ship the weights next to each painting's card with a same-VGG comparison against
the arbitrary network.

    python -m scripts.johnson dataset                 # photos -> training/johnson/photos (+ manifest.json)
    nice -n 19 python -m scripts.johnson train        # round-robin over the paintings; run it again to resume
    python -m scripts.johnson ship                    # export, compare, write style_server/models/paintings/<id>/

Checkpoints live in training/johnson/<id>/ (git-ignored); ``train`` always goes on from them, in this session
or the next, and stops by itself at --steps. Nothing is downloaded: the photos are the real photographs that
scikit-image ships in its wheel plus frames of the kiosk's demo video.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "training" / "johnson"
PAINTINGS = ("shipwreck", "starry-night", "the-scream", "woman-with-hat")
# Real photographs in scikit-image's wheel (no download). astronaut, camera (the cameraman) and chelsea are
# held out: they are the portraits the comparison is measured on.
TRAIN_PHOTOS = (
    "coffee",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "hubble_deep_field",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
)
HELD_OUT = ("astronaut", "camera", "chelsea")
DEMO_FRAMES = 12
TRAIN_DEFAULTS = {
    "image_size": 128,
    "batch_size": 2,
    "width": 32,
    "checkpoint_every": 50,
    "preview_every": 250,
}
WEIGHTS = "johnson.safetensors"
RECORD = "johnson.json"


def skimage_photo(name: str):
    """One of scikit-image's bundled photographs as an RGB PIL image (grey ones repeated to three channels)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    if name.startswith("motorcycle_"):  # the two views of scikit-image's stereo pair
        array = data.stereo_motorcycle()[0 if name == "motorcycle_left" else 1]
    else:
        array = getattr(data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3].astype(np.uint8))


def build_dataset(out: Path, frames: int = DEMO_FRAMES) -> dict:
    """Write the content photos into ``out`` with a manifest (names, sizes, SHA-256): same input, same set."""
    import tempfile

    import cv2
    from PIL import Image

    from booth_client.demo import make_demo_video

    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in TRAIN_PHOTOS:
        path = out / f"skimage-{name}.png"
        skimage_photo(name).save(path)
        entries.append({"file": path.name, "source": f"skimage.data.{name}"})
    with tempfile.TemporaryDirectory() as tmp:
        video = make_demo_video(Path(tmp) / "demo.avi")
        capture = cv2.VideoCapture(str(video))
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for k in range(frames):
            index = k * total // frames
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if not ok:
                raise RuntimeError(f"cannot read frame {index} of the demo video")
            path = out / f"demo-frame-{index:03d}.png"
            Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).save(path)
            entries.append({"file": path.name, "source": f"booth_client demo video frame {index} of {total}"})
        capture.release()
    for entry in entries:
        with Image.open(out / entry["file"]) as image:
            entry["size"] = list(image.size)
        entry["sha256"] = hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest()
    manifest = {
        "photos": entries,
        "skimage_photos": len(TRAIN_PHOTOS),
        "demo_video_frames": frames,
        "held_out_portraits": [f"skimage.data.{n}" for n in HELD_OUT],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def machine() -> dict:
    import torch

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }


def timing(chunks: list[dict]) -> dict:
    """Seconds and seconds per step over the chunks whose time is recorded (a chunk cut short by a stop is not:
    its steps resume from the last checkpoint)."""
    seconds = sum(c["seconds"] for c in chunks)
    steps = sum(c["steps"][1] - c["steps"][0] + 1 for c in chunks)
    return {"seconds": round(seconds, 1), "seconds_per_step": round(seconds / max(steps, 1), 3), "timed_steps": steps}


def _done_steps(work: Path) -> int:
    import torch

    checkpoint = work / "checkpoint.pt"
    if not checkpoint.is_file():
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["step"])


def cmd_train(args) -> int:
    import torch
    from tqdm import tqdm

    from style_server.config import engine_from_settings, get_settings
    from style_server.engine.catalogue import Catalogue
    from style_server.engine.imageio import load_image
    from style_server.engine.params import TrainParams
    from style_server.engine.training import train
    from style_server.engine.transformer import save_transform_net

    photos = args.work / "photos"
    if not (photos / "manifest.json").is_file():
        build_dataset(photos)
    manifest = json.loads((photos / "manifest.json").read_text(encoding="utf-8"))
    settings = get_settings()
    catalogue = Catalogue.load(settings.engine.models_dir)
    engine = engine_from_settings(settings, "cpu")
    vgg, source = engine.vgg()
    base = TrainParams(**{**TRAIN_DEFAULTS, "learning_rate": args.learning_rate})
    while True:
        pending = [(pid, _done_steps(args.work / pid)) for pid in args.paintings]
        pending = [(pid, done) for pid, done in pending if done < args.steps]
        if not pending:
            print("all paintings reached", args.steps, "steps", flush=True)
            return 0
        pid, done = min(pending, key=lambda item: item[1])  # the least trained painting goes next
        card = catalogue.get(pid)
        work = args.work / pid
        target = min(done + args.chunk, args.steps)
        params = base.model_copy(update={"iterations": target})
        record_file = work / RECORD
        record = json.loads(record_file.read_text(encoding="utf-8")) if record_file.is_file() else {}
        recent: list[dict[str, float]] = []
        with tqdm(total=target, initial=done, desc=f"{pid}", unit="step", file=sys.stdout) as bar:

            def on_step(step: int, losses: dict[str, float], bar=bar, recent=recent) -> None:
                recent.append(losses)
                bar.update(step - bar.n)
                bar.set_postfix(style=f"{losses['style']:.3f}", content=f"{losses['content']:.3f}")

            report = train(
                load_image(card.path(card.style_image)),
                photos,
                work,
                params,
                vgg,
                torch.device("cpu"),
                resume=done > 0,
                on_step=on_step,
            )
        save_transform_net(report.net, work / WEIGHTS)
        tail = recent[-50:]
        chunks = [*record.get("chunks", []), {"steps": [done + 1, target], "seconds": round(report.seconds, 1)}]
        record = {
            "painting": pid,
            "steps": target,
            **timing(chunks),
            "params": params.model_dump(mode="json"),
            "final_losses_mean_of_last_50_steps": {k: round(statistics.fmean(x[k] for x in tail), 4) for k in tail[0]},
            "loss_network": source.origin,
            "machine": machine(),
            "dataset": {
                "photos": len(manifest["photos"]),
                "skimage_photos": [e["source"] for e in manifest["photos"] if e["source"].startswith("skimage")],
                "demo_video_frames": manifest["demo_video_frames"],
                "crop": f"random square crops resized to {params.image_size} px, mirrored half the time",
                "held_out_portraits": manifest["held_out_portraits"],
                "manifest_sha256": hashlib.sha256((photos / "manifest.json").read_bytes()).hexdigest(),
            },
            "chunks": chunks,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        record_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def export_from_checkpoint(work: Path, target: Path) -> int:
    """The checkpoint's network as fp16 safetensors at ``target``; returns its step."""
    import torch

    from style_server.engine.transformer import TransformNet, save_transform_net

    state = torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=True)
    net = TransformNet(int(state["width"]))
    net.load_state_dict(state["net"])
    save_transform_net(net.eval(), target)
    return int(state["step"])


def cmd_ship(args) -> int:
    """Export each trained painting's network next to its card, measure it against the arbitrary network
    and write the verdict into the card (the catalogue offers the network only when it wins)."""
    from tqdm import tqdm

    from research.johnson import compare_fast_networks, verdict
    from style_server.config import engine_from_settings, get_settings
    from style_server.engine.catalogue import Catalogue, JohnsonNetwork, write_card
    from style_server.engine.fast import FastOptions, FastStyle
    from style_server.engine.imageio import load_image

    settings = get_settings()
    catalogue = Catalogue.load(settings.engine.models_dir)
    engine = engine_from_settings(settings, "cpu")
    vgg, source = engine.vgg()
    portraits = [(f"skimage.data.{name}", skimage_photo(name)) for name in HELD_OUT]
    options = FastOptions()
    for pid in tqdm(args.paintings, desc="ship", unit="painting", file=sys.stdout):
        work = args.work / pid
        if not (work / "checkpoint.pt").is_file():
            print(f"{pid}: not trained yet (no {work / 'checkpoint.pt'})", flush=True)
            continue
        card = catalogue.get(pid)
        steps = export_from_checkpoint(work, card.folder / WEIGHTS)
        record = json.loads((work / RECORD).read_text(encoding="utf-8")) if (work / RECORD).is_file() else {}
        if record.get("steps") != steps:
            record["note"] = (
                f"weights exported from the checkpoint at step {steps}; seconds and losses are those of the "
                f"last finished chunk (step {record.get('steps', 0)})"
            )
        record.update(timing(record.get("chunks", [])), exported_steps=steps)
        own = FastStyle("trained", weights_file=str(card.folder / WEIGHTS))
        arbitrary = engine.fast.resolve([(card, 1.0)], johnson=False)
        comparison = compare_fast_networks(
            vgg,
            load_image(card.path(card.style_image)),
            portraits,
            lambda photo, style=own: engine.fast.stylize([photo], [style], options)[0],
            lambda photo, style=arbitrary: engine.fast.stylize([photo], [style], options)[0],
            size=args.size,
        )
        record["comparison"] = {
            **comparison.model_dump(mode="json"),
            "mean_johnson_style": round(comparison.johnson_style, 5),
            "mean_arbitrary_style": round(comparison.arbitrary_style, 5),
            "johnson_wins": comparison.johnson_wins,
            "loss_network": source.origin,
        }
        (card.folder / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        card.johnson = JohnsonNetwork(
            weights=WEIGHTS, record=RECORD, steps=steps, comparison=comparison, verdict=verdict(comparison, steps)
        )
        write_card(card)
        print(f"{pid}: {card.johnson.verdict}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.johnson", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=WORK, help="photos, checkpoints and records (git-ignored)")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dataset", help="write the content photos and their manifest")
    d.add_argument("--frames", type=int, default=DEMO_FRAMES)
    t = sub.add_parser("train", help="train (or go on training) in chunks, the least trained painting first")
    t.add_argument("paintings", nargs="*", default=list(PAINTINGS))
    t.add_argument("--steps", type=int, default=2000, help="stop each painting at this many steps")
    t.add_argument("--chunk", type=int, default=100, help="steps per turn before the next painting")
    t.add_argument("--learning-rate", type=float, default=1e-3)
    h = sub.add_parser("ship", help="export the checkpoints into style_server/models/paintings/<id>/ and compare")
    h.add_argument("paintings", nargs="*", default=list(PAINTINGS))
    h.add_argument("--size", type=int, default=256, help="longest side of the held-out portraits")
    args = parser.parse_args(argv)
    if args.command == "ship":
        return cmd_ship(args)
    if args.command == "dataset":
        manifest = build_dataset(args.work / "photos", args.frames)
        print(f"{len(manifest['photos'])} photos in {args.work / 'photos'}")
        return 0
    return cmd_train(args)


if __name__ == "__main__":
    raise SystemExit(main())
