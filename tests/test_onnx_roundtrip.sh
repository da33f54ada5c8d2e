#!/usr/bin/env bash
# Description: our engine's logits against ONNX Runtime's on the same
# weights exported to ONNX (see tests/onnx_roundtrip.py); skips with the
# reason when torch or ONNX Runtime (make ort-deps) is missing.
# Timeout: 600
exec /usr/bin/python3 "$(dirname "$0")/onnx_roundtrip.py"
