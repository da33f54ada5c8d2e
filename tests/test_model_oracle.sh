#!/usr/bin/env bash
# Description: ResNet18 and AlexNet agree with torchvision on the same
# weights and inputs (see tests/model_oracle.py).
# Timeout: 600
exec /usr/bin/python3 "$(dirname "$0")/model_oracle.py"
