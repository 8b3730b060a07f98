#!/bin/bash
# Every full-size benchmark in docs/benchmarks.md, one after another so that no two share the cores.
#   bash benchmarks/run_all.sh [OUT_DIR]      # default: benchmarks/results/<date>-<host>; ≈ 2.5 h on 2 CPU cores
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/results/$(date +%F)-$(hostname -s)}
mkdir -p "$out"
py=${PYTHON:-python}
step() { echo "=== $1 $(date -Is) load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"; }
step lle-bench;  $py -m lle.cli.bench --budget 30 --repeats 10 --out "$out"          > "$out/bench.log" 2>&1
step overhead;   $py "$here/framework_overhead.py" --out "$out/overhead.json"         > "$out/overhead.log" 2>&1
step data;       $py "$here/data_pipeline.py" --out "$out/data.json"                  > "$out/data.log" 2>&1
step inference;  $py "$here/inference_defaults.py" --compile-timeout 240 --budget 60 --out "$out/infer.json" > "$out/infer.log" 2>&1
step soak;       $py "$here/soak_dataloader.py" --batches 3000 --workers 2            > "$out/soak.json" 2>"$out/soak.log"
step memory;     $py "$here/forward_memory.py" --model mirnet --size 400 600          > "$out/mirnet_mem.txt" 2>&1
                 $py "$here/alen_full_frame_memory.py"                                > "$out/alen_mem.txt" 2>&1
                 $py "$here/tiled_enhance_memory.py"                                  > "$out/tiled_enhance.txt" 2>&1
                 $py "$here/tiled_enhance_memory.py" --size 1424 2128                 >> "$out/tiled_enhance.txt" 2>&1
                 $py "$here/tiled_enhance_memory.py" --size 1424 2128 --tile 0        >> "$out/tiled_enhance.txt" 2>&1
                 # every network on a 12-megapixel image (MIRNet, MIRNet-v2 and ABSGN take 15-45 min each)
                 for model in retinexnet absgn mirnet_v2 mirnet; do
                 $py "$here/tiled_enhance_memory.py" --model $model                   >> "$out/tiled_enhance.txt" 2>&1
                 done
                 $py "$here/tiled_enhance_memory.py" --model alen --set srgb_input=true in_channels=3 >> "$out/tiled_enhance.txt" 2>&1
                 $py "$here/tiled_enhance_memory.py" --images 10 --size 1424 2128     >> "$out/tiled_enhance.txt" 2>&1
step seams;      # tiled vs whole PSNR (docs/benchmarks.md, "Tiles without seams"); CKPT_<MODEL> names trained checkpoints
                 for model in gladnet absgn mirnet_v2 mirnet alen; do
                 ckpt_var="CKPT_${model^^}"; [ -n "${!ckpt_var}" ] || continue
                 $py "$here/tiled_seams.py" --model "${!ckpt_var}" --out "$out/seams_$model.json" >> "$out/tiled_seams.txt" 2>&1
                 done
step classical;  $py "$here/classical_speed.py"                                       > "$out/classical.txt" 2>&1
step ddp;        $py "$here/ddp_overhead.py" --out "$out/ddp.json"                      > "$out/ddp.log" 2>&1
step done
