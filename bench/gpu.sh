#!/usr/bin/env bash
# Issue 6's GPU figures, on a CUDA machine with this checkout (python3 holding torch):
#   bash bench/gpu.sh tests|ladder|epoch OUT_DIR
# tests:  the CUDA tests (CUDA graphs against the eager step, resume, every fast option at once)
# ladder: `dcgan throughput --ladder` for imagenet32 at batch 128: the pytorch/examples-style
#         reference loop, then our step with each fast-path option added in turn
# epoch:  `dcgan train` through one Imagenet32-sized epoch (1,281,167 images, 10,009 steps of 128)
#         with every fast option; wall seconds and images/s from the run's own result
# The images are ../shared/data/imagenet_sample.npz's 1000 real 32x32 ImageNet images (or
# $DCGAN_DATA_ROOT's), repeated to ImageNet-1k's size: a step's time does not depend on which
# pictures it sees, and no ImageNet copy is needed.
set -euo pipefail
what=${1:?tests, ladder or epoch}
out=${2:?an output folder}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
sample=${DCGAN_DATA_ROOT:-../shared/data}/imagenet_sample.npz
big=${TMPDIR:-/tmp}/imagenet32-size.npz
make_big() {
  [ -f "$big" ] || python3 - "$sample" "$big" <<'PY'
import sys, numpy as np
x = np.load(sys.argv[1])["x32"]
np.savez(sys.argv[2], x=x[np.arange(1_281_167) % len(x)])
PY
}
case $what in
  tests)
    python3 -m pytest -q -p no:cacheprovider --benchmark-disable tests/test_train.py tests/test_throughput.py -k "cuda or graphs" 2>&1 | tee "$out/cuda-tests.txt" ;;
  ladder)
    make_big
    python3 -m dcgan.cli throughput --variant imagenet32 --dataset npz --data-root "$big" --n-images 50000 \
      --stages train,train-reference,sample,features --ladder --device cuda --warmup 10 --iters 50 --repeats 3 \
      --out-dir "$out" --no-progress 2>&1 | tee "$out/ladder.txt" ;;
  epoch)
    make_big
    # word splitting of the options is meant
    # shellcheck disable=SC2086
    /usr/bin/time -f "%e s wall (process)" python3 -m dcgan.cli train --variant imagenet32 --dataset npz --data-root "$big" \
      --steps 10009 --log-every 500 --ckpt-every 100000 --out "$(mktemp -d)/run" --no-progress --json \
      ${EPOCH_OPTIONS:---fused-adam --channels-last --amp bf16 --compile --cuda-graphs} 2>&1 | tee -a "$out/epoch.txt" ;;
  *) echo "bench/gpu.sh: unknown part $what (tests, ladder or epoch)" >&2; exit 2 ;;
esac
