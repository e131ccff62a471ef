import pickle, json, sys, warnings, numpy as np
warnings.simplefilter("ignore")
sys.path.insert(0, "/tmp/pc")
from crfkit.curves import CurveSet
from crfkit.estimators import register_estimator
from crfkit.evaluation.real_estimators import evaluate_real
from crfkit._stats import paired_bootstrap_interval
import importlib.util
spec = importlib.util.spec_from_file_location("autoexp", "/tmp/pc/auto_candidate.py"); mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
register_estimator("auto-B0.75", mod.AutoEstimator)
raw = pickle.load(open('/tmp/pc/charts.pkl','rb'))
charts = {k: CurveSet(v, kind='inverse', names=n) for k,(v,n) in raw.items()}
ms = ["crf-net", "linearization-net", "auto-B0.75"]
res = evaluate_real(None, ms, chart=charts, bracket=False, options={m: {"threads": 1} for m in ms}, per_channel=False)
print(res.to_markdown())
E = {m: res.camera_means(m) for m in ms}
for p in ms[:2]:
    d = E["auto-B0.75"] - E[p]; print("auto -", p, d.mean(), paired_bootstrap_interval(d), (d < 0).sum())
