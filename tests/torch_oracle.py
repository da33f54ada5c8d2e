"""The numerical oracle: torchvision's ResNet18/AlexNet on the weights in a
safetensors file.  Used by tests (python3 from Debian: /usr/bin/python3)."""
import json
import struct

import numpy as np
import torch
import torchvision
from torchvision import transforms

DTYPES = {"F32": np.float32, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    data = blob[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def model(name, weights):
    m = getattr(torchvision.models, name)()
    m.load_state_dict(load_safetensors(weights))
    return m.eval()


PREPROCESS = transforms.Compose(
    [
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ]
)


def jpeg_tensor(path):
    from PIL import Image

    with Image.open(path) as im:
        return PREPROCESS(im.convert("RGB"))


def logits(m, batch):
    with torch.no_grad():
        return m(batch).numpy()
