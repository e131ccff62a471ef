import pickle, numpy as np, warnings
warnings.simplefilter("ignore")
from crfkit.curves import CurveSet, Curve
from crfkit.evaluation.real_camera import linearisation_error_blocks, load_middlebury_brackets
raw = pickle.load(open('/tmp/pc/charts.pkl','rb'))
bs = load_middlebury_brackets(illuminations=(2,))
a=[];b=[]
for br in bs:
    v,_ = raw[br.camera]
    cs = CurveSet(v, kind='inverse'); m = Curve(v.mean(0), kind='inverse')
    e1 = np.mean([linearisation_error_blocks(cs, j, r) for j, r in zip(br.jpegs, br.raws)])
    e2 = np.mean([linearisation_error_blocks(m, j, r) for j, r in zip(br.jpegs, br.raws)])
    sp = np.sqrt(((v - v.mean(0))**2).mean())
    print(br.camera, round(e1,4), round(e2,4), 'channel spread rms', round(sp,4)); a.append(e1); b.append(e2)
print('chart per-channel', np.mean(a), 'chart channel-mean', np.mean(b))
