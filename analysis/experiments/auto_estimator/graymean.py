import pickle, numpy as np, warnings, sys
warnings.simplefilter("ignore")
import torch; torch.set_num_threads(1)
from crfkit.curves import CurveSet, Curve
from crfkit.estimators import get_estimator
from crfkit.evaluation.real_camera import linearisation_error_blocks, load_middlebury_brackets
bs = load_middlebury_brackets(illuminations=(2,))
for m in sys.argv[1].split(","):
    est = get_estimator(m, per_channel="gray", threads=1)
    res = {"gray": [], "graymean": []}
    for br in bs:
        e = {"gray": [], "graymean": []}
        for j, r in zip(br.jpegs, br.raws):
            g = est.estimate(j)
            e["gray"].append(linearisation_error_blocks(g, j, r))
            e["graymean"].append(linearisation_error_blocks(Curve(g.values.mean(0), kind="inverse"), j, r))
        for k in e: res[k].append(np.mean(e[k]))
        print(m, br.camera, {k: round(v[-1], 4) for k, v in res.items()}, flush=True)
    print(m, {k: round(float(np.mean(v)), 4) for k, v in res.items()}, flush=True)
