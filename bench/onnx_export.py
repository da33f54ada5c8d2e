"""Exports torchvision's ResNet18/AlexNet with the weights of a safetensors
file (loaded exactly as bench/torch_bench.py and the oracle load them) to
ONNX with torch.onnx.export: opset 13, batch size a dynamic axis, input
"input" (N,3,224,224) float32, output "logits" (N,1000).  Written to a
temporary name and renamed, so a partial file never stands as the model.

usage: /usr/bin/python3 bench/onnx_export.py MODEL WEIGHTS.safetensors OUT.onnx
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import torch_oracle  # noqa: E402


def export(name, weights, out):
    m = torch_oracle.model(name, weights)
    tmp = f"{out}.tmp{os.getpid()}"
    with torch.no_grad():
        torch.onnx.export(m, torch.zeros(1, 3, 224, 224), tmp, input_names=["input"],
                          output_names=["logits"], opset_version=13,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(tmp, out)


def fresh(weights, out):
    """True when OUT exists and is newer than WEIGHTS."""
    return os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(weights)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: onnx_export.py MODEL WEIGHTS.safetensors OUT.onnx")
    export(*sys.argv[1:])
