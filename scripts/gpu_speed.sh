#!/usr/bin/env bash
# Speed and quality on a GPU, one command: trains the shapes and composites predictors where
# missing (train_predictor.py), then runs speed_quality.py on both sets with --device gpu
# (it stops with an error when TensorFlow sees no GPU) and --serving; writes docs/amortised/gpu.
#
#   bash scripts/gpu_speed.sh                 # on the GPU machine, from anywhere
#   QUICK=1 bash scripts/gpu_speed.sh         # a smoke test anywhere: tiny sizes, the CPU
#
# Extra arguments go to speed_quality.py (e.g. --composites-images 60 --rise-masks 4000).
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3
if [ "${QUICK:-0}" = 1 ]; then
    folder=$(mktemp -d)
    python scripts/train_predictor.py --set shapes --images 64 --epochs 1 \
        --out "$folder/shapes.keras"
    python scripts/train_predictor.py --set composites --images 16 --epochs 1 \
        --out "$folder/composites.keras"
    python scripts/speed_quality.py --quick --device cpu --serving \
        --shapes-predictor "$folder/shapes.keras" \
        --composites-predictor "$folder/composites.keras" --out "$folder/report" "$@"
    echo "quick run written to $folder/report"
    exit 0
fi
# the predictors of docs/amortised.md (trained on the GPU when missing; their time is reported)
[ -f predictors/shapes.keras ] || python scripts/train_predictor.py --set shapes \
    --images 8000 --epochs 30 --learning-rate 3e-4 --width 96 \
    --feature-layer conv2b_relu last_conv --out predictors/shapes.keras
[ -f predictors/composites.keras ] || python scripts/train_predictor.py --set composites \
    --images 600 --epochs 15 --batch-size 16 --feature-layer block14_project_bn head_relu \
    --out predictors/composites.keras
python scripts/speed_quality.py --device gpu --serving --shapes-images 100 \
    --composites-images 24 --refine-steps 10,15,20,25 --rise-masks 500 --out docs/amortised/gpu "$@"
