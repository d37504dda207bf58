#!/usr/bin/env bash
# Regenerate wharf's CRI gRPC stubs (src/wharf/cri/pb/api_pb2*.py, committed) from
# the CRI v1 api.proto kept beside them. Run after changing api.proto:
#   .venv/bin/pip install grpcio-tools && ./scripts/gen-cri-stubs.sh
# The generated code needs a protobuf runtime at least as new as the protoc that
# grpcio-tools bundles: keep pyproject.toml's protobuf floor in step.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m grpc_tools.protoc -I src --python_out=src --grpc_python_out=src \
  src/wharf/cri/pb/api.proto
