#!/usr/bin/env bash
# The GPU check, in one go (about 5 minutes on an H100/H200-class machine): the `cuda` tests (CUDA
# against the CPU on the same weights), every registry combination on CUDA, the CLI choosing the
# GPU by itself, the epoch / grid / encode timings with fp32 against bf16, and data-parallel
# training over the GPUs present (NCCL). Prints everything and keeps a log of each step.
#
# It needs only MNIST's four raw .gz files, never the network; a GPU machine that cannot see the
# datasets beside the checkout gets them in an ignored folder inside it:
#
#     mkdir -p .gpu_data/MNIST/raw && cp ../shared/datasets/MNIST/raw/*.gz .gpu_data/MNIST/raw/
#     VAE_DATA_DIR=$PWD/.gpu_data bash bench/gpu_check.sh [LOG_DIR]
#
# $PYTHON (default python3) is the interpreter that holds a CUDA build of torch; it needs numpy,
# pillow, tqdm and pytest, not streamlit. Each step has its own time limit in seconds (together
# 8 minutes at most), so one that hangs cannot eat the machine's time; the logs of each step go to
# LOG_DIR (default bench/results/gpu_check-DATE), the whole output to LOG_DIR/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
LOGS="${1:-bench/results/gpu_check-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$LOGS"
exec > >(tee "$LOGS/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
# The checkout itself, not an installed copy: the GPU machine has no network to pip install it.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export VAE_DATA_DIR="${VAE_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vae_explorer/data}"
failed=()
step() { echo; echo "=== $* ($(date +%T)) ==="; }
# run NAME SECONDS COMMAND...: the command under its time limit, its output also in $LOGS/NAME.log
run() {
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 124 ] && echo "!! $name ran past its $limit s limit"
  [ "$rc" = 0 ] || failed+=("$name (exit $rc)")
  echo "--- $name: exit $rc in $((SECONDS - start)) s"
}

step "device"
echo "commit ${GPU_CHECK_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
"$PY" -c "import sys, torch, numpy; print('python', sys.version.split()[0], '| torch', torch.__version__, '| CUDA', torch.version.cuda, '| numpy', numpy.__version__, '|', [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"
gpus=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "${gpus:-0}" = 0 ]; then echo "no CUDA device: nothing to check here"; exit 1; fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ ! -s "$VAE_DATA_DIR/MNIST/raw/$f" ]; then
    echo "missing $VAE_DATA_DIR/MNIST/raw/$f: copy MNIST's raw files there first (this check never downloads)"; exit 1
  fi
done

step "the cuda tests: training on the device, CUDA against the CPU, a graphed run resumed, a page job"
run cuda_tests 150 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py --junitxml="$LOGS/cuda_tests.xml"

step "epoch, grid and encode timings; fp32 against bf16; test −ELBO"
run bench_gpu 200 "$PY" bench/bench_gpu.py --epochs-elbo 5

step "the CLI picks the GPU by itself (--device auto), one epoch of the 2-D MLP"
models=$(mktemp -d)
run cli_auto 45 env VAE_MODELS_DIR="$models" "$PY" -m vae_core train --device auto --epochs 1 --tag auto-gpu --quiet
grep -q "\[GPU (" "$LOGS/cli_auto.log" && echo "the CLI trained on the GPU" || { echo "!! the CLI did not say it trained on a GPU"; failed+=("cli_auto device"); }
"$PY" -c "import json; m=json.load(open('$models/auto-gpu/metrics.json')); print({k: m.get(k) for k in ('status', 'train_seconds', 'final_test')})" || failed+=("cli_auto metrics")
run cli_graphs 45 env VAE_MODELS_DIR="$models" "$PY" -m vae_core train --device auto --epochs 1 --cuda-graphs --tag graphs-gpu --quiet
"$PY" -c "import json; m=json.load(open('$models/graphs-gpu/metrics.json')); print({k: m.get(k) for k in ('status', 'train_seconds', 'cuda_graph', 'final_test')}); assert m.get('cuda_graph')" || failed+=("cli_graphs metrics")
rm -rf "$models"

step "DistributedDataParallel over $gpus GPU(s) (NCCL), one MNIST epoch of the 2-D MLP"
models=$(mktemp -d)
start=$(date +%s.%N)
run torchrun 45 env VAE_MODELS_DIR="$models" "$PY" -m torch.distributed.run --standalone --nproc-per-node "$gpus" -m vae_core train \
    --device cuda --epochs 1 --batch-size 128 --tag ddp-gpu --quiet
echo "torchrun with $gpus rank(s): $("$PY" -c "print(f'{$(date +%s.%N) - $start:.1f}')") s including process start"
"$PY" -c "import json; m=json.load(open('$models/ddp-gpu/metrics.json')); print('world_size', m['world_size'], 'backend', m['backend'], 'train_seconds', round(m['train_seconds'], 2))" || failed+=("torchrun metrics")
rm -rf "$models"

step "every objective × prior × likelihood × architecture on CUDA, against the CPU"
run registries 120 "$PY" bench/cuda_registries_check.py --steps 30

step "the same, each step captured as a CUDA graph (--cuda-graphs)"
run registries_graphs 120 "$PY" bench/cuda_registries_check.py --steps 30 --cuda-graphs

echo
if [ ${#failed[@]} = 0 ]; then echo "GPU check: all passed (logs in $LOGS)"; exit 0; fi
echo "GPU check: failed: ${failed[*]} (logs in $LOGS)"
exit 1
