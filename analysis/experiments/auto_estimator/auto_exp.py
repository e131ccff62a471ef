"""auto candidates: per-pair curves of crf-net, linearization-net, lin2004 and the combinations."""
import sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import torch
torch.set_num_threads(1)
from crfkit.curves import linearize, Curve
from crfkit.estimators import get_estimator
from crfkit.estimators.evaluation import render_pairs, default_image_dirs
from crfkit.estimators.validation import split_validation_curves
from crfkit.estimators.lin2004 import edge_triples
from crfkit.synthesis import dorf_split, find_training_images, load_linear_images, split_images

which = sys.argv[1]
train_paths, test_paths = split_images(find_training_images(default_image_dirs()), 0.15)
train_c, test_c = dorf_split()
if which == "val":
    _, curves = split_validation_curves(train_c, 16)
    rng = np.random.default_rng(1)
    paths = [train_paths[i] for i in sorted(rng.choice(len(train_paths), 12, replace=False))]
    seed = 1
else:
    curves, paths, seed = test_c, test_paths, 0
images = load_linear_images(paths, short_side=384, min_size=128)
print(which, len(curves), "curves x", len(images), "images", flush=True)
crf = get_estimator("crf-net", threads=1)
lin = get_estimator("linearization-net", threads=1)
l04 = get_estimator("lin2004")
g0 = l04._table[0]; H = l04._table[1:]

def refine(img, g):
    img = np.asarray(img, np.float32)
    if img.dtype != np.float32 or img.max() > 1: pass
    tiles = l04._tiles(img)
    per_tile = max(1000, 40000 // len(tiles))
    tr = np.concatenate([edge_triples(t, seed=l04.seed, monotone=l04.monotone, max_candidates=per_tile) for t in tiles])
    if len(tr) > l04.max_triples:
        r = np.random.default_rng(l04.seed)
        tr = tr[np.sort(r.choice(len(tr), l04.max_triples, replace=False))]
    if len(tr) < l04.min_triples:
        return g.copy(), len(tr)
    c0 = (g - g0) @ H.T
    mu = l04._mu
    l04._mu = c0
    try:
        c = l04.fit_triples(tr)
    finally:
        l04._mu = mu
    d = l04._curves(c)[0] - l04._curves(c0)[0]
    return l04._finish(g + d), len(tr)

true_inv = curves.inverse().values
rows = []
t0 = time.time()
for ci, ii, ldr, target in render_pairs(images, curves, seed):
    x = ldr.astype(np.float32) / 255 if ldr.dtype == np.uint8 else ldr
    gc = crf.estimate(ldr).values; gl = lin.estimate(ldr).values; g4 = l04.estimate(ldr).values
    A = 0.5 * (gc + gl)
    C, nt = refine(x, A)
    cur = {"crf": gc, "lin": gl, "l04": g4, "C": C}
    for w in (0.25, 0.5, 0.75):
        cur[f"B{w}"] = w * gc + (1 - w) * gl
    rec = {"ci": ci, "ii": ii, "nt": nt}
    for k, g in cur.items():
        rec["crv_" + k] = float(np.sqrt(np.mean((g - true_inv[ci]) ** 2)))
        rec["lin_" + k] = float(np.sqrt(np.mean((linearize(ldr, Curve(g, kind="inverse")) - target) ** 2)))
    rows.append(rec)
    if len(rows) % 20 == 0:
        print(len(rows), f"{time.time()-t0:.0f}s", flush=True)
import json
json.dump(rows, open(f"/tmp/pc/auto_{which}.json", "w"))
keys = [k for k in rows[0] if k.startswith("crv_") or k.startswith("lin_")]
for k in keys:
    print(k, round(float(np.mean([r[k] for r in rows])), 5))
print("pairs with >= min triples:", sum(r["nt"] >= 30 for r in rows), "of", len(rows))
