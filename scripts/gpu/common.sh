# Sourced by every scripts/gpu/*.sh: run from the repository root with Python's output unbuffered, say which GPU
# runs it (or that none does), and turn DATA and LIMIT into optional flags: "${data[@]}" and "${limit[@]}".
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PYTHONUNBUFFERED=1
data=(); [ -n "${DATA:-}" ] && data=(--data "$DATA")
limit=(); [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no NVIDIA GPU: running on the CPU"
