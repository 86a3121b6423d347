#!/usr/bin/env bash
# Issue 12's measured results, from the CLI: a β sweep (β = 0.5, 1, 2, 4) and learned priors
# (VampPrior, mixture of Gaussians) against N(0, I), all MNIST, the 784-512-512-512-2 MLP, d = 2,
# the same budget (EPOCHS epochs, batch 128, lr 1e-3 cosine, seed 0).
#
# Every model gets the evaluation the shipped models carry when it finishes (`train --evaluate`: test
# −ELBO on the whole test set, importance-weighted NLL with k = 1000 on 1,000 test images, 5-NN
# accuracy), then the quadrature NLL on the whole test set (`evaluate --quadrature-grid 400`).
# The β = 1 model is the N(0, I) baseline of the prior comparison.
#
# Usage: VAE_DATA_DIR=/path/to/datasets bash bench/registry_results.sh [EPOCHS]
# Models go to $VAE_MODELS_DIR (default bench/results/models, not committed); the tables are printed
# by bench/registry_report.py at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-10}
export VAE_MODELS_DIR=${VAE_MODELS_DIR:-$PWD/bench/results/models}
common=(--dataset mnist --arch mlp --latent-dim 2 --epochs "$EPOCHS" --batch-size 128 --lr 1e-3
        --schedule cosine --seed 0 --evaluate --quiet --overwrite)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

for beta in 0.5 1 2 4; do
  python -m vae_core train "${common[@]}" --objective standard --beta "$beta" --tag "sweep-beta-$beta"
done
python -m vae_core train "${common[@]}" --objective standard --prior vamp --prior-components 100 --tag prior-vamp
python -m vae_core train "${common[@]}" --objective standard --prior mog --prior-components 20 --tag prior-mog

for tag in sweep-beta-1 prior-vamp prior-mog; do
  python -m vae_core evaluate "$tag" --iw-k 1000 --iw-n 1000 --quadrature-grid 400 --save > /dev/null
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python bench/registry_report.py
