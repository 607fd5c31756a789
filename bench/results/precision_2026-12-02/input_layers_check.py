"""Throwaway check behind BENCHMARKS.md section 15 (kept so its numbers can be rerun): the default
bundle's encoders quantised with every layer int8 against the input layers kept float, test
macro-F1 on p6-p8 (4 s windows) with the float head.

    python bench/results/precision_2026-12-02/input_layers_check.py MinMax 100000 all
    python bench/results/precision_2026-12-02/input_layers_check.py MinMax 100000 Conv,Gemm node_Conv_181,node_Conv_185

(args: calibration method, calibration windows, op types or "all", nodes kept float). Run from
the repository root with the dev venv; writes scratch files to /tmp/q.
"""
import os; os.makedirs("/tmp/q", exist_ok=True)
import json, itertools, sys, numpy as np, onnxruntime as ort
from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantType, QuantFormat, CalibrationMethod
from onnxruntime.quantization.shape_inference import quant_pre_process
from training.data.dsads import load_dsads
from training.metrics import macro_f1
Z='/work/shared/datasets/dsads/daily_sports_activities.zip'
b='service/default_bundle'; man=json.load(open(f'{b}/manifest.json'))
tr=load_dsads(Z, window_seconds=4.0, subjects=[1,2,3,4]); te=load_dsads(Z, window_seconds=4.0, subjects=[6,7,8])
def norm(ds, v):
    x=ds.x[v['name']]; return ((x-np.array(v['norm_mean']))/np.array(v['norm_std'])).transpose(0,2,1).astype(np.float32)
class R(CalibrationDataReader):
    def __init__(s, x): s.it=iter([{'window':x[i:i+64]} for i in range(0,len(x),64)])
    def get_next(s): return next(s.it,None)
so=ort.SessionOptions(); so.intra_op_num_threads=2
head=ort.InferenceSession(f'{b}/head.onnx',so,providers=['CPUExecutionProvider'])
names=[v['name'] for v in man['views']]
def scen(emb):
    out={}
    for k in (1,3,5):
        f=[]
        for c in itertools.combinations(range(5),k):
            m=np.zeros((len(te.y),5),bool); m[:,list(c)]=True
            p=head.run(['probabilities'],{'embeddings':emb,'view_mask':m})[0].argmax(1)
            f.append(macro_f1(te.y,p,19))
        out[k]=100*np.mean(f)
    return out
emb32=np.stack([ort.InferenceSession(f"{b}/{v['encoder_file']}",so,providers=['CPUExecutionProvider']).run(None,{'window':norm(te,v)})[0] for v in man['views']],1)
print('fp32',scen(emb32),flush=True)
method=sys.argv[1]; ncal=int(sys.argv[2]); ops=None if sys.argv[3] == "all" else sys.argv[3].split(","); excl=sys.argv[4].split(",") if len(sys.argv)>4 else []
for v in man['views']:
    f=f"{b}/{v['encoder_file']}"; pre=f"/tmp/q/pre_{v['name']}.onnx"; q=f"/tmp/q/q_{method}_{v['name']}.onnx"
    quant_pre_process(f, pre, skip_symbolic_shape=True)
    rng=np.random.default_rng(0); xc=norm(tr,v); xc=xc[rng.choice(len(xc),min(ncal,len(xc)),replace=False)]
    quantize_static(pre, q, R(xc), quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod,method), op_types_to_quantize=ops, nodes_to_exclude=excl)
emb8=np.stack([ort.InferenceSession(f"/tmp/q/q_{method}_{v['name']}.onnx",so,providers=['CPUExecutionProvider']).run(None,{'window':norm(te,v)})[0] for v in man['views']],1)
cos=(emb32*emb8).sum(-1)/np.linalg.norm(emb32,axis=-1)/np.linalg.norm(emb8,axis=-1)
print(method,ncal,ops,excl,scen(emb8),'cos min',cos.min(),'p1',np.percentile(cos,1),'agree5',flush=True)
