"""Description: the fast JPEG path (engine preprocess --fast, classify
--fast-jpeg) against the exact, torchvision-equal default.  The fast path
decodes only the rectangle the centre crop reads (which changes a few
pixels at its edges, through the chroma upsampling), and an image whose
short side is at least 1024 in the DCT domain at 1/2, 1/4 or 1/8 of its
size.  Per image, the tensor's mean and max |diff| (in 8-bit levels) stay
within the bounds of its kind: ImageNet-sized photographs and synthetic
images (no DCT scaling), and photographs upscaled 2x to 8x and synthetic
ones (scaled); ResNet18's logits stay within LOGIT_TOL x max |logit|
(per kind) with the same top-1.  The bounds are the ones docs/engine.md gives, with the
values measured; a decode off by a pixel or a block exceeds them."""
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
# (mean, max) |diff| bounds in 8-bit levels: decoded at full size, DCT-scaled
BOUNDS = {False: (0.05, 24), True: (4.0, 64)}
LOGIT_TOL = {False: 0.001, True: 0.05}  # x max |logit|, the same two kinds
IMAGENET_SIZES = [(500, 375), (375, 500), (500, 333), (500, 400), (333, 500), (640, 480),
                  (500, 500)]


def images(d):
    """(path, scaled) pairs: photographs at ImageNet's sizes, photographs
    upscaled past 1024, and synthetic images of both kinds."""
    rng = np.random.default_rng(3)
    out = []
    photos = sorted(glob.glob("/usr/share/darknet/data/*.jpg"))
    for i, p in enumerate(photos):
        with Image.open(p) as im:
            im = im.convert("RGB")
            size = IMAGENET_SIZES[i % len(IMAGENET_SIZES)]
            q = os.path.join(d, f"imagenet{i}.jpg")
            im.resize(size, Image.BICUBIC).save(q, quality=int(rng.integers(75, 96)))
            out.append((q, False))
            if i >= 4:
                continue
            f = [2.0, 3.0, 5.5, 8.0][i]  # scales 1/2, 1/4, 1/8, and the photo as it is
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
        mean_b, max_b = BOUNDS[scaled]
        check(diff.mean() <= mean_b and diff.max() <= max_b,
              f"{name}{' DCT-scaled' if scaled else ''}: mean |diff| {diff.mean():.3f}, "
              f"max {diff.max():.1f} 8-bit levels (<= {mean_b:g}, <= {max_b})")
    w = os.path.join(d, "resnet18.safetensors")
    run("weights", "--model", "resnet18", "--seed", "11", "--out", w)
    paths = [p for p, _ in imgs]
    le, lf = os.path.join(d, "e.logits"), os.path.join(d, "f.logits")
    run("classify", "--model", "resnet18", "--weights", w, "--logits", le, *paths)
    run("classify", "--model", "resnet18", "--weights", w, "--fast-jpeg", "--logits", lf, *paths)
    a = np.fromfile(le, np.float32).reshape(-1, 1000)
    b = np.fromfile(lf, np.float32).reshape(-1, 1000)
    for kind, tol in ((False, LOGIT_TOL[False]), (True, LOGIT_TOL[True])):
        rows = [i for i, (_, scaled) in enumerate(imgs) if scaled == kind]
        rel = float(np.abs(a[rows] - b[rows]).max() / np.abs(a[rows]).max())
        check(rel <= tol, f"resnet18 logits, {len(rows)} images "
              f"{'DCT-scaled' if kind else 'decoded at full size'}: max |diff| {rel:.3g} "
              f"x max |logit| <= {tol}")
    check((a.argmax(1) == b.argmax(1)).all(), f"resnet18 top-1 the same for all {len(a)} images")
    return finish(d)


if __name__ == "__main__":
    sys.exit(main())
