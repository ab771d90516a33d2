#!/usr/bin/env bash
# One GPU session's measurements, as one script (issue: performance; study: paper-gpu).
#
#   benchmarks/gpu_session.sh OUT [SECONDS] [BENCH FLAGS...]
#
# 1. the GPU tests (tests/test_gpu.py and the batched-matching tests), into OUT/tests.log;
# 2. benchmarks/bench_train.py measures the paper preset's model (FCOS + ResNet18, 256 px,
#    batch 32) alone on random images on the GPU (the ceilings: torchvision's FCOS, and
#    noisybox's step), a plain torchvision loop and `noisybox train`, into
#    OUT/bench_train.json, with torch.profiler's table of noisybox's step in OUT/profile.txt;
# 3. with BENCH FLAGS only, the paper-gpu study grows: `noisybox bench --config
#    benchmarks/studies/paper-gpu/config.toml` in build/paper-gpu (its built-in data made in
#    the background during 1 and 2), with the study's finished runs copied in first (so they
#    are skipped) and BENCH FLAGS choosing the cells (e.g. --loss iou --loss alpha-iou --eta
#    0.2 --seed 0), stopped after SECONDS (default 420) in all; the runs that finished are in
#    OUT/paper-gpu-<date>.jsonl, to be copied into benchmarks/studies/paper-gpu/results/.
#
# Run from the repository root with noisybox installed (PYTHON names the interpreter,
# NOISYBOX the command). SECONDS bounds the whole script: a run still going then is stopped
# and left out; plan about 150 s a run on an H100 or H200 and 90 s for the data.
set -u
out=${1:?usage: benchmarks/gpu_session.sh OUT [SECONDS] [BENCH FLAGS...]}
seconds=${2:-420}
shift $(($# < 2 ? $# : 2))
py=${PYTHON:-python3}
deadline=$(($(date +%s) + seconds))
bench=build/paper-gpu
mkdir -p "$out" build
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.txt" 2>&1
"$py" -c "import torch, torchvision; print(torch.__version__, torchvision.__version__)" >>"$out/gpu.txt"
cat "$out/gpu.txt"

if [ $# -gt 0 ]; then
"$py" - "$bench" >"$out/data.log" 2>&1 <<'PY' &
import sys, time
from pathlib import Path
from noisybox.benchmark.presets import PRESETS
from noisybox.benchmark.runner import make_builtin_dataset
started = time.perf_counter()
make_builtin_dataset(Path(sys.argv[1]) / "data", PRESETS["paper"])
print(f"paper data made in {time.perf_counter() - started:.0f} s")
PY
data=$!
fi

timeout $((deadline - $(date +%s))) "$py" -m pytest -q -p no:cacheprovider \
    tests/test_gpu.py tests/test_batching.py >"$out/tests.log" 2>&1
tail -5 "$out/tests.log"

workers=$(($(nproc) > 9 ? 8 : $(nproc) - 1))
timeout $((deadline - $(date +%s))) "$py" benchmarks/bench_train.py --device cuda \
    --backbone resnet18 --img-size 256 --batch-size 32 --workers "$workers" --amp \
    --steps 30 --warmup 10 --repeats 1 --json "$out/bench_train.json" \
    --profile "$out/profile.txt" 2>&1 | tee "$out/bench_train.log"

[ $# -gt 0 ] || exit 0
wait "${data:?}"; cat "$out/data.log"
mkdir -p "$bench/results"
cp benchmarks/studies/paper-gpu/results/*.jsonl "$bench/results/" 2>/dev/null
left=$((deadline - $(date +%s)))
echo "bench: $left s left"
# the installed command (NOISYBOX), or `noisybox` on PATH
timeout --signal=INT --kill-after=20 "$left" "${NOISYBOX:-noisybox}" bench --config benchmarks/studies/paper-gpu/config.toml \
    --out "$bench" --workers "$workers" "$@" 2>&1 | tee "$out/bench.log"
new="$out/paper-gpu-$(date +%Y%m%d-%H%M).jsonl"
# the records this session added (the copied files are left out)
"$py" - "$bench/results" "$new" <<'PY'
import sys
from pathlib import Path
added = Path(sys.argv[1]) / "results.jsonl"
if added.exists():
    Path(sys.argv[2]).write_bytes(added.read_bytes())
    print(f"{sum(1 for _ in added.open())} finished runs in {sys.argv[2]}")
PY
