import json, numpy as np, torch
torch.set_num_threads(1)
from crfkit.estimators.evaluation import run_evaluation
from crfkit._stats import paired_bootstrap_interval
ms = ("crf-net", "crf-net:per-channel", "linearization-net", "linearization-net:per-channel")
res = run_evaluation(methods=ms, seed=0, threads=1)
print(res.to_markdown())
for b in ("crf-net", "linearization-net"):
    d = res.curve_rmse[b + ":per-channel"] - res.curve_rmse[b]
    print(b, "per-channel - shared: curve", d.mean(), paired_bootstrap_interval(d),
          "lin", (res.lin_rmse[b + ":per-channel"] - res.lin_rmse[b]).mean())
json.dump(res.to_dict(), open("/tmp/pc/synth_pc.json", "w"))
