import pickle, sys, time, json, warnings
import numpy as np
warnings.simplefilter("ignore")
from crfkit.curves import CurveSet
from crfkit.evaluation.real_estimators import evaluate_real, CHART
from crfkit.evaluation.real_camera import linearisation_error_blocks, load_middlebury_brackets
raw = pickle.load(open('/tmp/pc/charts.pkl','rb'))
charts = {k: CurveSet(v, kind='inverse', names=n) for k,(v,n) in raw.items()}
cams = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else None
methods = sys.argv[1].split(",")
t = time.time()
opts = {m: {"threads": 1} for m in methods if not m.startswith("lin2004")}
res = evaluate_real(None, methods, cameras=cams, chart=charts, bracket=False, options=opts)
print("seconds", time.time() - t, res.seconds)
print(res.to_markdown())
tag = sys.argv[3] if len(sys.argv) > 3 else "out"
json.dump(res.to_dict(timings=True), open(f"/tmp/pc/real_{tag}.json", "w"))
