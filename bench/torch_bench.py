"""The peer: torchvision's ResNet18/AlexNet on PyTorch (Debian's
python3-torch), eval mode, no_grad, torch.set_num_threads(N); same weights
files and the same measuring loop as bench/engine_bench.c.

usage: /usr/bin/python3 bench/torch_bench.py WEIGHTS_DIR THREADS SECONDS MODELS BATCHES
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import torch_oracle  # noqa: E402

wdir, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
models, batches = sys.argv[4].split(","), [int(b) for b in sys.argv[5].split(",")]
torch.set_num_threads(threads)
print(f"{'model':<9} {'batch':>5} {'images/s':>10} {'p50_ms':>10} {'p99_ms':>10}")
for name in models:
    m = torch_oracle.model(name, os.path.join(wdir, f"{name}.safetensors"))
    for b in batches:
        x = torch.randn(b, 3, 224, 224)
        lat = []
        with torch.no_grad():
            m(x)
            m(x)
            total = 0.0
            while total < seconds or len(lat) < 5:
                t0 = time.perf_counter()
                m(x)
                dt = time.perf_counter() - t0
                lat.append(dt)
                total += dt
        lat.sort()
        print(f"{name:<9} {b:>5} {len(lat) * b / total:>10.1f} {lat[len(lat) // 2] * 1e3:>10.2f} "
              f"{lat[int(len(lat) * 0.99)] * 1e3:>10.2f}")
