"""Description: the engine's ResNet18 and AlexNet agree with torchvision
(python3-torch) on the same weights file and the same inputs: for both
models, both fast backends (onednn, blas), batch 1, 3, 16 and 64 (the
benchmark's batch sizes; a full batch each), top-5 is identical and max |logit difference| <= 1e-3 x max |logit|.  The JPEG path
(decode, resize 256, crop 224, normalise) is checked against torchvision's
own preprocessing: tensors within one 8-bit level, logits within 1e-2."""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_checks import check, finish, run  # noqa: E402

try:
    import torch
    import torch_oracle
except ImportError as e:  # the runner shows this reason
    print(f"SKIP: torch/torchvision not importable ({e}); run make deps")
    sys.exit(77)

REL_TOL = 1e-3
BATCHES = (1, 3, 16, 64)


def top5_same(ours, ref, scale):
    """Top-5 identical; a swap is forgiven only between logits that tie
    to within 1e-5 of the logit scale (the order of equal values is not
    defined)."""
    a, b = np.argsort(-ours)[:5], np.argsort(-ref)[:5]
    if list(a) == list(b):
        return True
    for x, y in zip(a, b):
        if x != y and abs(ref[x] - ref[y]) > 1e-5 * scale:
            return False
    return True


def compare(tag, ours, ref, rel_tol):
    scale = float(np.abs(ref).max())
    diff = float(np.abs(ours - ref).max())
    check(diff <= rel_tol * scale,
          f"{tag}: max|diff| {diff:.3g} <= {rel_tol:g} x max|logit| {scale:.3g}")
    same = all(top5_same(o, r, scale) for o, r in zip(ours, ref))
    check(same, f"{tag}: top-5 identical for all {len(ref)} inputs")


def main():
    torch.set_num_threads(2)
    d = tempfile.mkdtemp(prefix="idunno-oracle-")
    rng = np.random.default_rng(7)
    raws = []
    for i in range(max(BATCHES)):
        p = os.path.join(d, f"in{i}.raw")
        # natural-image-like statistics: smooth noise, in the normalised range
        x = rng.standard_normal((3, 224, 224)).astype(np.float32)
        x = (x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 2
        x.tofile(p)
        raws.append(p)
    batch = torch.from_numpy(np.stack([np.fromfile(p, np.float32).reshape(3, 224, 224) for p in raws]))

    for name in ("resnet18", "alexnet"):
        w = os.path.join(d, f"{name}.safetensors")
        run("weights", "--model", name, "--seed", "11", "--out", w)
        ref = torch_oracle.logits(torch_oracle.model(name, w), batch)
        for backend in ("onednn", "blas"):
            for b in BATCHES:
                n = max(b, 3)  # batch 1 runs three inputs one by one
                out = os.path.join(d, f"{name}-{backend}-{b}.logits")
                run("classify", "--model", name, "--weights", w, "--backend", backend,
                    "--raw", "--batch", str(b), "--threads", "2", "--logits", out, *raws[:n])
                ours = np.fromfile(out, np.float32).reshape(-1, 1000)
                compare(f"{name} {backend} batch {b}", ours, ref[:n], REL_TOL)

    # The JPEG path, against torchvision's PIL preprocessing.
    from PIL import Image
    w = os.path.join(d, "resnet18.safetensors")
    m = torch_oracle.model("resnet18", w)
    jpegs = []
    for i, (wd, ht) in enumerate([(500, 375), (300, 611), (224, 224), (97, 1203), (1, 1)]):
        yy, xx = np.mgrid[0:ht, 0:wd]
        img = np.stack([(xx * 255 // max(wd - 1, 1)), (yy * 255 // max(ht - 1, 1)),
                        ((xx + yy) * 7) % 256], -1).astype(np.uint8)
        img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
        p = os.path.join(d, f"img{i}.jpg")
        Image.fromarray(img).save(p, quality=90)
        jpegs.append(p)
    ref_t = torch.stack([torch_oracle.jpeg_tensor(p) for p in jpegs])
    worst = 0.0
    for i, p in enumerate(jpegs):
        out = os.path.join(d, f"img{i}.raw")
        run("preprocess", p, out)
        ours_t = np.fromfile(out, np.float32).reshape(3, 224, 224)
        worst = max(worst, float(np.abs(ours_t - ref_t[i].numpy()).max()))
    level = 1 / 255 / 0.224
    check(worst <= level * 1.01, f"jpeg preprocessing: max|diff| {worst:.3g} within one 8-bit level ({level:.3g})")
    out = os.path.join(d, "jpeg.logits")
    run("classify", "--model", "resnet18", "--weights", w, "--logits", out, *jpegs)
    ours = np.fromfile(out, np.float32).reshape(-1, 1000)
    compare("resnet18 onednn jpeg", ours, torch_oracle.logits(m, ref_t), 1e-2)

    return finish(d)


if __name__ == "__main__":
    sys.exit(main())
