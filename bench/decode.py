"""Decode benchmark: the daemon's camera decoder over the camera simulator's frames.

Prints figures only (no pass/fail): per-frame time of the bare zxing-cpp call, of the whole
decoder step (decode + approximate grade) and of the grade alone (its mean too: the corner search
runs on few frames, so the median hides it), frames per second through the async Decoder on 1 and 2
threads, and the latency of each frame when frames arrive at line speed. Frames are rendered
first, so the simulator's cost is reported separately and not mixed into the decode figures.

    python bench/decode.py [--frames 600] [--seed 1] [--packs-per-minute 6000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import numpy as np

from drivers.camera.decode import DecodeOptions, Decoder, DecodeResult, decode_frame
from drivers.interfaces import Frame
from simulators.camera_scene import FrameRenderer
from simulators.line import Defect

GS = "\x1d"
IMAGE_DEFECTS = [
    Defect.BLUR,
    Defect.SMUDGE,
    Defect.LOW_CONTRAST,
    Defect.MISSING_MODULES,
    Defect.NO_PRINT,
]


def data_for(seq: int) -> str:
    return "0109506000134352" + "17281231" + f"10LOT{seq % 50:02d}{GS}21{seq * 7919:012d}"


def render(count: int, seed: int, mixed: bool) -> tuple[list[Frame], list[float]]:
    """Frames from the simulator's renderer; mixed = 70 % clean, 6 % of each image defect."""
    renderer = FrameRenderer(seed=seed)
    rng = np.random.default_rng(seed)
    frames: list[Frame] = []
    times: list[float] = []
    for seq in range(1, count + 1):
        defect = None
        if mixed and rng.random() < 0.30:
            defect = IMAGE_DEFECTS[int(rng.integers(len(IMAGE_DEFECTS)))]
        start = time.perf_counter()
        image, _ = renderer.render(seq, data_for(seq), defect)
        times.append((time.perf_counter() - start) * 1000)
        frames.append(Frame(seq, image.shape[1], image.shape[0], image.tobytes()))
    return frames, times


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def line(label: str, values: list[float]) -> str:
    return (
        f"  {label:<42} median {statistics.median(values):6.2f} ms   "
        f"p99 {pct(values, 99):6.2f} ms   max {max(values):6.2f} ms"
    )


async def throughput(frames: list[Frame], threads: int) -> tuple[float, list[DecodeResult]]:
    """Frames per second through the async Decoder with every frame submitted at once."""
    async with Decoder(threads=threads) as decoder:
        await decoder.decode(frames[0])  # warm the threads
        start = time.perf_counter()
        results = await asyncio.gather(*(decoder.decode(f) for f in frames))
        elapsed = time.perf_counter() - start
    return len(frames) / elapsed, list(results)


async def paced(frames: list[Frame], threads: int, per_minute: float) -> list[float]:
    """Latency (ms) from a frame's arrival to its result, frames arriving at line speed."""
    loop = asyncio.get_running_loop()
    pitch = 60.0 / per_minute
    latencies: list[float] = []

    async def one(frame: Frame, decoder: Decoder) -> None:
        start = time.perf_counter()
        await decoder.decode(frame)
        latencies.append((time.perf_counter() - start) * 1000)

    async with Decoder(threads=threads) as decoder:
        await decoder.decode(frames[0])
        tasks: set[asyncio.Task[None]] = set()
        t0 = loop.time()
        for n, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, t0 + n * pitch - loop.time()))
            task = asyncio.create_task(one(frame, decoder), name=f"bench-decode-{frame.seq}")
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--packs-per-minute", type=float, default=6000.0)
    args = parser.parse_args()
    print(f"decode bench: {args.frames} frames per set, 640x480 grey, {os.cpu_count()} CPUs")
    for label, mixed in (("clean", False), ("mixed (30 % defects)", True)):
        frames, render_ms = render(args.frames, args.seed, mixed)
        bare = [decode_frame(f, DecodeOptions(grade=False)).decode_ms for f in frames]
        results = [decode_frame(f) for f in frames]
        step = [r.decode_ms + r.grade_ms for r in results]
        reads = sum(r.ok for r in results)
        print(f"\n{label}: {reads}/{len(frames)} frames decoded")
        print(line("simulator render", render_ms))
        print(line("zxing-cpp read_barcode", bare))
        print(line("decode + grade (one thread)", step))
        grades = [r.grade_ms for r in results if r.ok]
        print(
            line("approximate grade alone", grades) + f"   mean {statistics.mean(grades):5.3f} ms"
        )
        for threads in (1, 2):
            fps, _ = await throughput(frames, threads)
            print(f"  {f'Decoder, {threads} thread(s), all queued':<42} {fps:6.0f} frames/s")
        for threads in (1, 2):
            waits = await paced(frames, threads, args.packs_per_minute)
            label = f"{args.packs_per_minute:.0f}/min, {threads} thread(s), arrival->result"
            print(line(label, waits))


if __name__ == "__main__":
    asyncio.run(main())
