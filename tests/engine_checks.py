"""What the engine's Python tests share (model_oracle.py, jpeg_fast.py,
onnx_roundtrip.py): the engine binary, checks that print ok/FAIL and
collect failures, running the engine, and the end of a run."""
import os
import shutil
import subprocess

ENGINE = os.path.join(os.environ.get("IDUNNO_BIN", "bin"), "engine")
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def run(*args):
    r = subprocess.run([ENGINE, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: engine {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def finish(tmpdir):
    """Removes tmpdir; the exit status: 1 when any check failed."""
    shutil.rmtree(tmpdir)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0
