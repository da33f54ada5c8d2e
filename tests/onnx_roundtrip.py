"""Description: the ONNX export round trip: ResNet18 and AlexNet exported
with torch.onnx.export (bench/onnx_export.py, as the benchmark does) from a
safetensors file run in ONNX Runtime (onnxruntime-node under build/ort,
installed by `make ort-deps`) and in our engine (onednn, batch 1 and 3) on
the same inputs: max |logit difference| <= 1e-3 x max |logit| and top-5
identical, the oracle's tolerance (tests/model_oracle.py); ORT also agrees
with torchvision itself (so the export is faithful).  Skips, saying why,
when torch, node or ONNX Runtime is missing."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.environ.get("IDUNNO_ROOT", os.path.dirname(here))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(os.path.dirname(here), "bench"))
try:
    import torch
    import onnx_export
    import torch_oracle
    from engine_checks import finish, run
    from model_oracle import REL_TOL, compare
except ImportError as e:
    print(f"SKIP: torch/torchvision not importable ({e}); run make deps")
    sys.exit(77)

ORT_DIR = os.path.join(root, "build", "ort")


def ort_missing():
    if not shutil.which("node"):
        return "node is not installed"
    r = subprocess.run(["node", "-e", 'require(process.argv[1] + "/node_modules/onnxruntime-node")',
                        ORT_DIR], capture_output=True, text=True)
    if r.returncode != 0:
        tail = next((ln for ln in r.stderr.splitlines() if "Error" in ln), "?").strip()
        return f"onnxruntime-node does not load from {ORT_DIR} ({tail}); run make ort-deps"
    return None


def main():
    why = ort_missing()
    if why:
        print(f"SKIP: ONNX Runtime not available: {why}")
        return 77
    torch.set_num_threads(2)
    d = tempfile.mkdtemp(prefix="idunno-onnx-")
    rng = np.random.default_rng(5)
    raws = []
    for i in range(3):
        p = os.path.join(d, f"in{i}.raw")
        x = rng.standard_normal((3, 224, 224)).astype(np.float32)
        x = (x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 2
        x.tofile(p)
        raws.append(p)
    batch = torch.from_numpy(np.stack([np.fromfile(p, np.float32).reshape(3, 224, 224) for p in raws]))
    for name in ("resnet18", "alexnet"):
        w, onnx = os.path.join(d, f"{name}.safetensors"), os.path.join(d, f"{name}.onnx")
        run("weights", "--model", name, "--seed", "13", "--out", w)
        onnx_export.export(name, w, onnx)
        out = os.path.join(d, f"{name}.ort")
        r = subprocess.run(["node", os.path.join(here, "ort_logits.js"), ORT_DIR, onnx, out, "3",
                            *raws], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"FAIL: ort_logits {name}: {r.stderr.strip()}")
        ort = np.fromfile(out, np.float32).reshape(-1, 1000)
        compare(f"{name} ORT vs torchvision", ort, torch_oracle.logits(torch_oracle.model(name, w), batch),
                REL_TOL)
        for b in (1, 3):
            out = os.path.join(d, f"{name}-{b}.logits")
            run("classify", "--model", name, "--weights", w, "--backend", "onednn", "--raw",
                "--batch", str(b), "--threads", "2", "--logits", out, *raws)
            ours = np.fromfile(out, np.float32).reshape(-1, 1000)
            compare(f"{name} onednn batch {b} vs ORT", ours, ort, REL_TOL)
    return finish(d)


if __name__ == "__main__":
    sys.exit(main())
