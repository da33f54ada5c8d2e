#!/usr/bin/env bash
# Description: the fast JPEG path against the exact default, within the
# documented bounds (see tests/jpeg_fast.py).
# Timeout: 300
exec /usr/bin/python3 "$(dirname "$0")/jpeg_fast.py"
