"""Aligning hand-held brackets: crfkit's ``align_images`` against OpenCV's ``AlignMTB``, on real photographs.

Real brackets shot from a tripod (the 20 Middlebury brackets, frobisher) are shifted as a
hand-held camera would shift them, every frame except the middle one (the reference of both
tools) by whole pixels (seeded, ``DRAWS`` draws per bracket and motion): "jitter" moves each frame
independently by up to ``MAX_SHIFT`` in x and y; "drift" walks outwards from the reference, each
frame up to ``DRIFT_STEP`` from its neighbour nearer the reference (the far frames end further away).  Each tool then aligns the shifted frames; a frame counts as
restored when its inner region (``MARGIN`` pixels in from the border, where no shift reaches)
equals the original frame's exactly.  Memorial Church (16 tripod frames, not shifted) checks the
other side: a tool must leave an aligned bracket where it is (within one pixel).

Both tools use Ward's median-threshold bitmaps; crfkit adds a shared-percentile threshold for
pairs whose median is nearly black or clipped (frobisher's 1/8 s frame) and refuses a shift that
does not make the bitmaps agree better than none.

Writes analysis/results/bracket/align.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_align.py
"""

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

import crfkit
from crfkit._io import atomic_write_text
from crfkit.bracket.merge import align_images
from crfkit.evaluation.real_camera import load_middlebury_brackets
from crfkit.io.images import read_image

OUT = Path(__file__).parent / "results" / "bracket"
MAX_SHIFT, DRIFT_STEP, DRAWS, MARGIN, SEED = 8, 6, 10, 20, 0
MOTIONS = ("jitter", "drift")


def draw_shifts(rng, n, ref, motion):
    """(n, 2) whole-pixel (dy, dx) shifts, 0 for the reference frame."""
    if motion == "jitter":
        shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(n, 2))
        shifts[ref] = 0
        return shifts
    shifts = np.zeros((n, 2), int)
    for k in [*range(ref + 1, n), *range(ref - 1, -1, -1)]:
        shifts[k] = shifts[k - 1 if k > ref else k + 1] + rng.integers(-DRIFT_STEP, DRIFT_STEP + 1, size=2)
    return shifts


def data_root():
    root = os.environ.get("CRFKIT_DATA")
    if not root:
        sys.exit("set CRFKIT_DATA to the data folder (see README)")
    return Path(root)


def real_brackets(root):
    """(name, frames in exposure order) of the tripod brackets that are shifted."""
    out = [(f"{b.camera} {b.illumination}", b.jpegs) for b in load_middlebury_brackets()]
    fro = root / "colour_hdri_frobisher_001"
    out.append(("frobisher", [read_image(fro / f"IMG_260{i}.jpg") for i in range(3)]))
    return out


def opencv_align(frames):
    import cv2

    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    dst = [b.copy() for b in bgr]
    cv2.createAlignMTB().process(bgr, dst)
    return [d[..., ::-1] for d in dst]


def crfkit_align(frames):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not aligned" warnings: the frame simply stays unrestored
        return align_images(frames)


TOOLS = {"crfkit align_images": crfkit_align, "OpenCV AlignMTB": opencv_align}


def restored(aligned, original):
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    return bool(np.array_equal(aligned[inner], original[inner]))


def within_one_pixel(aligned, original):
    inner = (slice(40, -40), slice(40, -40))
    return any(np.array_equal(aligned[inner], np.roll(original, (dy, dx), axis=(0, 1))[inner])
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def main():
    root = data_root()
    rng = np.random.default_rng(SEED)
    results = {m: {t: {} for t in TOOLS} for m in MOTIONS}
    medians = {}
    for name, frames in real_brackets(root):
        ref = len(frames) // 2  # the middle exposure: both tools' reference
        medians[name] = [round(float(np.median(f.mean(axis=2))), 1) for f in frames]
        for motion in MOTIONS:
            counts = {t: np.zeros(len(frames), int) for t in TOOLS}
            for _ in range(DRAWS):
                shifts = draw_shifts(rng, len(frames), ref, motion)
                moved = [np.roll(f, tuple(s), axis=(0, 1)) for f, s in zip(frames, shifts)]
                for tool, align in TOOLS.items():
                    out = align(moved)
                    counts[tool] += [restored(a, f) for a, f in zip(out, frames)]
            for tool in TOOLS:
                results[motion][tool][name] = {"restored": counts[tool].tolist(), "frames": len(frames),
                                               "draws": DRAWS, "reference": ref}
            print(name, motion, {t: counts[t].tolist() for t in TOOLS}, flush=True)
    mem = root / "debevec_memorial_bracket"
    memorial = [read_image(p) for p in sorted(mem.glob("memorial*.png"))]
    kept = {tool: int(sum(within_one_pixel(a, f) for a, f in zip(align(memorial), memorial))) for tool, align in
            TOOLS.items()}
    print("Memorial kept within 1 px:", kept)
    write(results, medians, kept, len(memorial))


def write(results, medians, kept, n_memorial):
    OUT.mkdir(parents=True, exist_ok=True)
    tools = list(TOOLS)
    names = list(results[MOTIONS[0]][tools[0]])

    def share(motion, tool, subset):
        r = [results[motion][tool][n] for n in subset]
        moved = sum((r_["frames"] - 1) * r_["draws"] for r_ in r)
        got = sum(sum(c for i, c in enumerate(r_["restored"]) if i != r_["reference"]) for r_ in r)
        return got, moved

    mb = [n for n in names if n != "frobisher"]
    lines = ["# Aligning hand-held brackets (real photographs)", "",
             "Tripod brackets shifted as a hand-held camera would shift them, every frame but the middle one "
             f"(both tools' reference) by whole pixels ({DRAWS} draws per bracket and motion, seed {SEED}): "
             f"*jitter* moves each frame independently by up to {MAX_SHIFT} px in x and y; *drift* walks outwards "
             f"from the reference, each frame up to {DRIFT_STEP} px from its neighbour nearer the reference. A "
             f"frame is restored when its inner region ({MARGIN} px in from the border) equals the original "
             "exactly. Memorial Church, not shifted, checks that a tripod bracket stays put. Higher is better.", "",
             f"Generated by `python analysis/bracket_align.py` (crfkit {crfkit.__version__}).", "",
             "| tool | Middlebury (20 brackets), jitter | Middlebury, drift | frobisher (1/8 s frame: median grey "
             f"code {medians['frobisher'][0]:g}), jitter | frobisher, drift | Memorial Church, tripod, kept within 1 px |",
             "|---|---|---|---|---|---|"]
    for t in tools:
        cells = []
        for subset in (mb, ["frobisher"]):
            for motion in MOTIONS:
                a, n = share(motion, t, subset)
                cells.append(f"{a} of {n} ({a / n:.0%})")
        cells = [cells[0], cells[1], cells[2], cells[3]]
        lines.append(f"| {t} | " + " | ".join(cells) + f" | {kept[t]} of {n_memorial} |")
    lines += ["", "## Per bracket (frames restored out of draws, in exposure order; '-': the reference, not moved)",
              "", "| bracket | median grey codes | " + " | ".join(f"{t}, {m}" for m in MOTIONS for t in tools) + " |",
              "|---|---|" + "---|" * (len(tools) * len(MOTIONS))]
    for n in names:
        cells = []
        for m in MOTIONS:
            for t in tools:
                r = results[m][t][n]
                cells.append(" / ".join("-" if i == r["reference"] else str(c) for i, c in enumerate(r["restored"])))
        lines.append(f"| {n} | {' / '.join(f'{v:g}' for v in medians[n])} | " + " | ".join(cells) + " |")
    atomic_write_text(OUT / "align.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "align.json", json.dumps({"settings": {"max_shift": MAX_SHIFT, "drift_step": DRIFT_STEP,
                                                                   "draws": DRAWS, "margin": MARGIN, "seed": SEED},
                                                      "results": results, "median_grey": medians,
                                                      "memorial_kept_within_1px": kept,
                                                      "memorial_frames": n_memorial}, indent=1))
    print("wrote", OUT / "align.md")


if __name__ == "__main__":
    main()
