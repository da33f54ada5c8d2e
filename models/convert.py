#!/usr/bin/python3
"""Converts a torchvision state dict (.pth) to the safetensors file the
engine loads: tensor names are the state_dict keys, one to one.

usage: models/convert.py [--arch resnet18|alexnet] MODEL.pth OUT.safetensors

The architecture is written into the file's metadata ("arch"), which the
engine and `agent model put` read; without --arch it is recognised from the
state dict's keys (a dict of neither network's keys gets no "arch").
Float tensors are written as F32 (converted from other float types),
integer ones (batch-norm's num_batches_tracked) as I64.  A full pickled
model (not a state dict) is accepted too: its state_dict() is used.
Runs with Debian's python3-torch: /usr/bin/python3.
"""
import json
import os
import struct
import sys

import torch


def state_dict_of(obj):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        return obj["state_dict"]
    if isinstance(obj, dict):
        return obj
    raise SystemExit(f"convert: not a state dict or a model: {type(obj).__name__}")


# A key only each network has: enough to tell the two apart.
ARCH_KEYS = {"resnet18": "layer4.1.conv2.weight", "alexnet": "classifier.6.weight"}


def arch_of(sd):
    found = [a for a, k in ARCH_KEYS.items() if k in sd]
    return found[0] if len(found) == 1 else None


def write_safetensors(sd, path, arch=None):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    if arch:
        header["__metadata__"]["arch"] = arch
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor):
            raise SystemExit(f"convert: {name} is not a tensor")
        t = t.detach().cpu().contiguous()
        if t.is_floating_point():
            t, dtype = t.to(torch.float32), "F32"
        elif t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            t, dtype = t.to(torch.int64), "I64"
        else:
            raise SystemExit(f"convert: {name} has unsupported dtype {t.dtype}")
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    args, arch = sys.argv[1:], None
    if len(args) == 4 and args[0] == "--arch":
        arch, args = args[1], args[2:]
        if arch not in ARCH_KEYS:
            raise SystemExit(f"convert: unknown --arch {arch} ({', '.join(ARCH_KEYS)})")
    if len(args) != 2:
        raise SystemExit(__doc__.strip().splitlines()[3])
    try:
        obj = torch.load(args[0], map_location="cpu")
    except Exception as e:  # a torch.load failure has many types
        raise SystemExit(f"convert: cannot read {args[0]}: {e}")
    sd = state_dict_of(obj)
    arch = arch or arch_of(sd)
    write_safetensors(sd, args[1], arch)
    print(f"convert: wrote {len(sd)} tensors to {args[1]}"
          + (f" (arch {arch})" if arch else " (no arch: give --arch, or the engine --model)"))


if __name__ == "__main__":
    main()
