import pickle, time
from pathlib import Path
from crfkit.evaluation.real_camera import load_middlebury_brackets
from crfkit.evaluation.real_estimators import chart_curves
t=time.time()
root = Path(load_middlebury_brackets(illuminations=(2,))[0].jpeg_paths[0]).parent.parent
ch = chart_curves(root, illumination=1)
pickle.dump({k: (v.values, list(v.names)) for k, v in ch.items()}, open('/tmp/pc/charts.pkl','wb'))
print('charts', time.time()-t, list(ch))
