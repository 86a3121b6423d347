#!/usr/bin/env bash
# Rebuilds the four shipped models from scratch (seeded), then measures them.
# Usage: VAE_DATA_DIR=/path/to/datasets bash pretrained/reproduce.sh [train|evaluate|layers|all]
# Each `train` line is the one documented command for that model (docs/models.md).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
py() { python -m vae_core "$@"; }

if [[ $what == train || $what == all ]]; then
  # MNIST standard VAE: ELBO for 30 epochs, then the importance-weighted bound: K=8 for 20 epochs, K=16 for 10.
  # (The shipped folder predates objective "iwae": its config says objective standard, estimator iwae.)
  py train --release --quiet --overwrite --half --out pretrained/mnist-vae --dataset mnist --model standard \
     --arch mlp --latent-dim 2 --epochs 30 --batch-size 128 --lr 1e-3 --schedule cosine --seed 0
  py train --release --quiet --overwrite --half --out pretrained/mnist-vae --init-from pretrained/mnist-vae \
     --dataset mnist --objective iwae --arch mlp --latent-dim 2 --epochs 20 --batch-size 128 --lr 3e-4 \
     --schedule cosine --samples 8 --seed 1
  py train --release --quiet --overwrite --half --out pretrained/mnist-vae --init-from pretrained/mnist-vae \
     --dataset mnist --objective iwae --arch mlp --latent-dim 2 --epochs 10 --batch-size 128 --lr 1e-4 \
     --schedule cosine --samples 16 --seed 2
  # MNIST MMD-VAE: same network and Bernoulli decoder, λ = 1000 for the summed likelihood.
  py train --release --quiet --overwrite --half --out pretrained/mnist-mmd --dataset mnist --model mmd \
     --arch mlp --latent-dim 2 --epochs 30 --batch-size 128 --lr 1e-3 --schedule cosine --mmd-lambda 1000 --seed 0
  # Fashion-MNIST: the CVAE blog's conv encoder/decoder.
  py train --release --quiet --overwrite --out pretrained/fashion-vae --dataset fashion --model standard \
     --arch conv --latent-dim 2 --epochs 10 --batch-size 128 --lr 1e-3 --schedule cosine --seed 0
  py train --release --quiet --overwrite --out pretrained/fashion-mmd --dataset fashion --model mmd \
     --arch conv --latent-dim 2 --epochs 10 --batch-size 128 --lr 1e-3 --schedule cosine --mmd-lambda 1000 --seed 0
fi

if [[ $what == evaluate || $what == all ]]; then
  for m in mnist-vae mnist-mmd; do
    py evaluate pretrained/$m --save --allow-pretrained --iw-k 5000 --iw-n 1000 --quadrature-grid 400 > /dev/null
  done
  for m in fashion-vae fashion-mmd; do
    py evaluate pretrained/$m --save --allow-pretrained --iw-k 1000 --iw-n 500 --quadrature-grid 400 > /dev/null
  done
fi

if [[ $what == layers || $what == train || $what == all ]]; then
  # The page's first view, made from the weights and codes just saved: view.npz (the default grid, the
  # browser's decoder and encoder) and layers.npz (the map's layers), so it paints before torch loads.
  python -m explorer.firstview pretrained/mnist-vae pretrained/mnist-mmd pretrained/fashion-vae pretrained/fashion-mmd
fi
