"""Description: the fast JPEG path (engine preprocess --fast, classify
--fast-jpeg: DCT-domain scaling by libjpeg-turbo when the short side is at
least 1024) against the exact, torchvision-equal default.  Images too small
to scale give exactly the default's tensor; larger ones (real photographs
upscaled, and synthetic ones, for scales 1/2, 1/4 and 1/8) stay within
MEAN_LEVELS on average and MAX_LEVELS at worst (in 8-bit levels), and
ResNet18's logits within LOGIT_TOL x max |logit| with the same top-1
(the bounds docs/engine.md gives, with the measured values)."""
import glob
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_checks import check, finish, run  # noqa: E402

try:
    from PIL import Image
except ImportError as e:
    print(f"SKIP: PIL not importable ({e}); run make deps")
    sys.exit(77)

LEVEL = 1 / 255 / 0.225  # one 8-bit level in the normalised tensor, at worst
MEAN_LEVELS, MAX_LEVELS, LOGIT_TOL = 4.0, 64, 0.05


def images(d):
    """(path, scaled) pairs: photographs upscaled past 1024, synthetic ones,
    and images too small for the fast path to change anything."""
    rng = np.random.default_rng(3)
    out = []
    photos = sorted(glob.glob("/usr/share/darknet/data/*.jpg"))[:4]
    for i, p in enumerate(photos):
        with Image.open(p) as im:
            im = im.convert("RGB")
            f = [2.0, 3.0, 5.5, 8.0][i % 4]  # scales 1/2, 1/4, 1/8, and the photo as it is
            im = im.resize((int(im.width * f), int(im.height * f)), Image.BICUBIC)
            q = os.path.join(d, f"photo{i}.jpg")
            im.save(q, quality=90)
            out.append((q, min(im.size) >= 1024))
    for i, (w, h) in enumerate([(1024, 768), (2100, 1500), (4100, 2200), (500, 375), (300, 611)]):
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * 255 // (w - 1)), (yy * 255 // (h - 1)),
                        128 + 100 * np.sin(xx / 37.0) * np.cos(yy / 23.0)], -1)
        img = np.clip(img + rng.integers(-6, 6, img.shape), 0, 255).astype(np.uint8)
        q = os.path.join(d, f"synth{i}.jpg")
        Image.fromarray(img).save(q, quality=90)
        out.append((q, min(w, h) >= 1024))
    return out


def main():
    d = tempfile.mkdtemp(prefix="idunno-jpegfast-")
    imgs = images(d)
    for p, scaled in imgs:
        exact, fast = os.path.join(d, "e.raw"), os.path.join(d, "f.raw")
        run("preprocess", p, exact)
        run("preprocess", "--fast", p, fast)
        a, b = np.fromfile(exact, np.float32), np.fromfile(fast, np.float32)
        diff = np.abs(a - b) / LEVEL
        name = f"{os.path.basename(p)} {Image.open(p).size}"
        if not scaled:
            check(diff.max() == 0, f"{name}: too small to scale, tensor identical")
        else:
            check(diff.mean() <= MEAN_LEVELS and diff.max() <= MAX_LEVELS,
                  f"{name}: mean |diff| {diff.mean():.3f}, max {diff.max():.1f} 8-bit levels "
                  f"(<= {MEAN_LEVELS:g}, <= {MAX_LEVELS})")
    w = os.path.join(d, "resnet18.safetensors")
    run("weights", "--model", "resnet18", "--seed", "11", "--out", w)
    paths = [p for p, _ in imgs]
    le, lf = os.path.join(d, "e.logits"), os.path.join(d, "f.logits")
    run("classify", "--model", "resnet18", "--weights", w, "--logits", le, *paths)
    run("classify", "--model", "resnet18", "--weights", w, "--fast-jpeg", "--logits", lf, *paths)
    a = np.fromfile(le, np.float32).reshape(-1, 1000)
    b = np.fromfile(lf, np.float32).reshape(-1, 1000)
    rel = float(np.abs(a - b).max() / np.abs(a).max())
    check(rel <= LOGIT_TOL, f"resnet18 logits: max |diff| {rel:.3g} x max |logit| <= {LOGIT_TOL}")
    check((a.argmax(1) == b.argmax(1)).all(), f"resnet18 top-1 the same for all {len(a)} images")
    return finish(d)


if __name__ == "__main__":
    sys.exit(main())
