#!/usr/bin/env bash
# Run here after GPU call 1: puts the returned model together in longbert/model/ (the bundled
# default model) and checks its sha256. Usage: bash scripts/device/receive.sh FILES_AT
set -euo pipefail
from=${1:?usage: receive.sh FOLDER_OF_CALL_1_FILES}
cd "$(dirname "$0")/../.."
rm -rf longbert/model && mkdir -p longbert/model
tar xzf "$from/model_files.tgz" -C longbert/model
cat "$from"/part_* > longbert/model/model.safetensors
(cd longbert/model && sha256sum -c "$from/model.sha256")
du -sh longbert/model
