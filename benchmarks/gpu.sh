#!/bin/bash
# GPU throughput: ResNet-18 with the CIFAR stem at 32 px and ResNet-50 at 224 px, images/s per GPU for
# the augmentation, the bare encoder step, the encoder step with the loss and the full pretraining step,
# with the peak GPU memory; the ImageNet preset's data path (decode + copy).
#
#   bash benchmarks/gpu.sh [OUT_DIR]        # appends to OUT_DIR/throughput_gpu.jsonl (default benchmarks/results)
#
# Most important settings first, so a run cut short still answers the main questions. Each setting is a
# fresh process; one that fails (out of memory, say) is reported and the others go on.
# Exits non-zero when any setting failed (after running the others), and refuses at once where
# PyTorch sees no GPU.
set -u
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results}
mkdir -p "$out"
py=${PYTHON:-python3}
steps=${STEPS:-40}
if ! $py -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "gpu.sh: PyTorch sees no CUDA device here (torch.cuda.is_available() is False): run it on a GPU machine" >&2
    exit 2
fi
# bf16 where the GPU computes it (compute capability >= 8), fp16 where bf16 is only emulated (V100, T4;
# a run refuses bf16 there); a line's own precision comes after and wins
prec=$($py -c 'import torch; print("bf16" if torch.cuda.get_device_capability()[0] >= 8 else "fp16")')
failed=0
run() {
    echo "== $* (train.precision=$prec unless set)" >&2
    if ! $py benchmarks/throughput.py "$1" train.precision="$prec" "${@:2}" --steps "$steps" --rounds 4 \
            --warmup 10 >> "$out/throughput_gpu.jsonl"; then
        echo "failed: $*" >&2
        failed=$((failed + 1))
    fi
}
run cifar10 encoder.arch=resnet18 train.batch_size=512
run imagenet train.batch_size=256
run cifar10 encoder.arch=resnet18 train.batch_size=1024
# The ImageNet preset's data path: JPEG decode + crops in its 16 loader workers, then the copy to the GPU
# (IMAGENET=/path/with/train reads real images; stand-in 500x375 JPEGs otherwise).
echo "== data path: imagenet, batch 256" >&2
if ! $py benchmarks/data_path.py imagenet train.batch_size=256 train.precision="$prec" ${IMAGENET:+--data-root "$IMAGENET"} \
        >> "$out/throughput_gpu.jsonl"; then
    echo "failed: data path" >&2
    failed=$((failed + 1))
fi
run cifar10 encoder.arch=resnet18 train.batch_size=512 train.compile=true
run imagenet train.batch_size=256 train.compile=true
run imagenet train.batch_size=128
run cifar10 encoder.arch=resnet18 train.batch_size=512 train.precision=fp32 train.channels_last=false
# Two GPUs (when present): a real run on 2 processes (torchrun; global BN, gathered negatives) on the
# built-in data, ResNet-18 CIFAR stem at batch 1024; its metrics' images/s, all GPUs together.
if (( $($py -c 'import torch; print(torch.cuda.device_count())') >= 2 )); then
    echo "== 2 GPUs: torchrun, resnet18, batch 1024" >&2
    tmp=$(mktemp -d)
    if $py -m torch.distributed.run --standalone --nproc-per-node 2 -m simclr configs/tiny.yaml \
            train.precision="$prec" encoder.arch=resnet18 train.batch_size=1024 data.num_train=20480 train.steps=100 \
            optim.warmup_epochs=1 train.progress=false eval.knn=false eval.linear=false --results "$tmp" >&2; then
        $py -c 'import glob, json, sys; m = json.load(open(glob.glob(sys.argv[1] + "/*/metrics.json")[0]))
print(json.dumps({"setting": "2 GPUs, torchrun, resnet18, batch 1024", "pretrain_images_per_s": m["train_images_per_s"]}))' \
            "$tmp" >> "$out/throughput_gpu.jsonl" || failed=$((failed + 1))
    else
        echo "failed: 2-GPU run" >&2
        failed=$((failed + 1))
    fi
    rm -rf "$tmp"
fi
if ((failed)); then
    echo "gpu.sh: $failed setting(s) failed" >&2
    exit 1
fi
