#!/usr/bin/env bash
# The GPU check, in one go (under 5 minutes on an H100/H200-class machine): the `cuda` tests, every
# registry combination on CUDA, the epoch / grid / encode timings with fp32 against bf16, and
# data-parallel training over the GPUs present (NCCL). Prints everything; the figures go to README
# with the card named. Run from the repository root:
#
#     VAE_DATA_DIR=/path/to/datasets bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
# The data: $VAE_DATA_DIR if set, else vae_core's default folder (the tests need it named).
export VAE_DATA_DIR="${VAE_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vae_explorer/data}"
status=0
step() { echo; echo "=== $* ==="; }

step "device"
python -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda, [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" = 0 ]; then echo "no CUDA device: nothing to check here"; exit 1; fi

step "the cuda tests"
python -m pytest -q -m cuda tests/test_cuda.py || status=1

step "every objective × prior × likelihood on CUDA, against the CPU"
python bench/cuda_registries_check.py --steps 30 || status=1

step "epoch, grid and encode timings; fp32 against bf16"
python bench/bench_gpu.py --epochs-elbo 5 || status=1

step "DistributedDataParallel over $gpus GPU(s) (NCCL), one MNIST epoch of the 2-D MLP"
models=$(mktemp -d)
start=$(date +%s.%N)
VAE_MODELS_DIR="$models" python -m torch.distributed.run --standalone --nproc-per-node "$gpus" -m vae_core train \
    --device cuda --epochs 1 --batch-size 128 --tag ddp-gpu --quiet || status=1
echo "torchrun with $gpus rank(s): $(python -c "print(f'{$(date +%s.%N) - $start:.1f}')") s including process start"
python -c "import json,sys; m=json.load(open('$models/ddp-gpu/metrics.json')); print('world_size', m['world_size'], 'backend', m['backend'], 'train_seconds', round(m['train_seconds'],2))" || status=1
rm -rf "$models"

echo
[ "$status" = 0 ] && echo "GPU check: all passed" || echo "GPU check: something failed (see above)"
exit $status
