#!/usr/bin/env bash
# Description: models/convert.py turns a torchvision .pth state dict into
# the engine's safetensors one to one: a freshly initialised torchvision
# ResNet18 and AlexNet (with non-trivial batch-norm statistics), saved with
# torch.save, converted, run by the engine, agree with torchvision itself
# (max |logit diff| <= 1e-3 x max |logit|, same top-5); the converted file
# names its architecture in its metadata (engine check needs no --model).
# Timeout: 300
set -u
/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null ||
  { echo "SKIP: python3-torch/torchvision not installed (make deps)"; exit 77; }
d=$(mktemp -d /tmp/idunno-convert-XXXXXX)
trap 'rm -rf "$d"' EXIT
exec /usr/bin/python3 - "$d" "$IDUNNO_BIN/engine" "$IDUNNO_ROOT" <<'PY'
import subprocess, sys
import numpy as np, torch, torchvision
d, engine, root = sys.argv[1:]
torch.manual_seed(3)
torch.set_num_threads(2)
x = torch.randn(2, 3, 224, 224)
for i in range(2):
    x[i].numpy().tofile(f"{d}/x{i}.raw")
fails = 0
for name in ("resnet18", "alexnet"):
    m = getattr(torchvision.models, name)().eval()
    for mod in m.modules():  # give batch-norm real statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    torch.save(m.state_dict(), f"{d}/{name}.pth")
    subprocess.run(["/usr/bin/python3", f"{root}/models/convert.py", f"{d}/{name}.pth",
                    f"{d}/{name}.safetensors"], check=True)
    chk = subprocess.run([engine, "check", "--weights", f"{d}/{name}.safetensors"],
                         capture_output=True, text=True)
    ok = chk.returncode == 0 and chk.stdout.split()[0] == name
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: the arch in its metadata: {chk.stdout.strip()}{chk.stderr.strip()}")
    subprocess.run([engine, "classify", "--model", name, "--weights", f"{d}/{name}.safetensors",
                    "--raw", "--batch", "2", "--logits", f"{d}/{name}.logits",
                    f"{d}/x0.raw", f"{d}/x1.raw"], check=True, stdout=subprocess.DEVNULL)
    ours = np.fromfile(f"{d}/{name}.logits", np.float32).reshape(2, 1000)
    with torch.no_grad():
        ref = m(x).numpy()
    scale, diff = np.abs(ref).max(), np.abs(ours - ref).max()
    top_ok = all(list(np.argsort(-o)[:5]) == list(np.argsort(-r)[:5]) for o, r in zip(ours, ref))
    ok = diff <= 1e-3 * scale and top_ok
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: converted .pth, max|diff| {diff:.3g} "
          f"(scale {scale:.3g}), top-5 {'same' if top_ok else 'differs'}")
bad = subprocess.run(["/usr/bin/python3", f"{root}/models/convert.py", f"{d}/x0.raw",
                      f"{d}/bad.safetensors"], capture_output=True, text=True)
ok = bad.returncode != 0 and "cannot read" in bad.stderr
fails += not ok
print(f"{'ok  ' if ok else 'FAIL'} a non-.pth input is refused: {bad.stderr.strip()[:120]}")
sys.exit(1 if fails else 0)
PY
