#!/usr/bin/env bash
# One GPU check of the Kosmos-2 policy on a data-centre NVIDIA GPU, in under 8 minutes, writing one JSON
# of figures (OUT/gpu_check.json). The model is the full-size Kosmos-2 architecture with RANDOM weights
# (configs/policy/kosmos2_full_random.yaml: timing and memory only, nothing downloaded).
#   1. the `gpu` tests (pytest -m gpu);
#   2. 30 LoRA training steps in bf16, window 8, batch 4, gradient checkpointing, through the real
#      `mvla train` loop (benchmarks/bench_kosmos2_train.py --train-only): samples/s, s/step, peak CUDA
#      memory; its checkpoint (LoRA + head) is what step 4 exports;
#   3. `mvla bench` of the full-size policy in fp16 on CUDA: step latency, peak CUDA memory;
#   4. `mvla export --format tensorrt` of that checkpoint (FP16 engines, parity gates against PyTorch
#      fp32), then `mvla bench --runtime trt` on the engines: engine step latency.
# (Training comes before the export because the export needs a checkpoint.)
#
#   benchmarks/gpu_check.sh [--out DIR]          on a machine with CUDA and TensorRT
#   benchmarks/gpu_check.sh --cpu-dry-run        the same steps at tiny size on the CPU (an `init: random`
#                                                Kosmos-2 of a few layers; fp32 bench, bf16 autocast
#                                                training, ONNX export and ONNX Runtime instead of TensorRT)
# A failed step is recorded (its exit status and the last line it printed) and the others still run; the
# script exits 1 when any step failed, 2 on a usage error or when there is no GPU without --cpu-dry-run.
set -uo pipefail
cd "$(dirname "$0")/.."

dry=0
out=gpu_check
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu-dry-run) dry=1 ;;
        --out) out="${2:?--out needs a folder}"; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check: unknown argument $1 (use --cpu-dry-run, --out DIR)" >&2; exit 2 ;;
    esac
    shift
done
py=${PYTHON:-}
if [ -z "$py" ]; then
    if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1  # nothing is downloaded: the model is built with random weights

rm -rf "$out"
mkdir -p "$out"
if [ "$dry" = 1 ]; then
    config="$out/tiny_random.yaml"
    cat > "$config" <<'YAML'
# TIMING ONLY: a tiny Kosmos-2 with RANDOM weights, for gpu_check.sh --cpu-dry-run
policy: kosmos2
window: 8
fwd_pred_next_n: 10
action_dim: 3
head: {hidden: 32, layers: 1}
backbone:
  init: random
  mode: lora
  lora: {r: 8, alpha: 16, dropout: 0.1}
  architecture: {vision_hidden: 32, vision_layers: 2, vision_heads: 4, vision_intermediate: 64, image_size: 56,
                 patch_size: 14, text_dim: 32, text_layers: 2, text_heads: 4, text_ffn: 64, latent_queries: 8}
YAML
    device=cpu bench_precision=fp32 export_format=onnx engine_runtime=onnx threads=(--threads 2)
else
    config=configs/policy/kosmos2_full_random.yaml
    device=cuda bench_precision=fp16 export_format=tensorrt engine_runtime=trt threads=()
    if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "gpu_check: no CUDA GPU here; run with --cpu-dry-run for the same steps at tiny size on the CPU" >&2
        exit 2
    fi
fi
ckpt="$out/train/checkpointing/run/final"
start_all=$(date +%s.%N)
: > "$out/steps.tsv"

step() {  # step NAME OUTFILE COMMAND...: run it, its stdout to OUTFILE, and record name, status, seconds
    local name=$1 file=$2 t0 rc
    shift 2
    echo "gpu_check: $name: $*" >&2
    t0=$(date +%s.%N)
    "$@" > "$file" 2> "$out/$name.err"
    rc=$?
    local last
    last=$(grep -v '^\s*$' "$out/$name.err" | tail -n 1 | tr '\t' ' ')
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(echo "$(date +%s.%N) - $t0" | bc)" "$last" >> "$out/steps.tsv"
}

step gpu_tests "$out/gpu_tests.txt" "$py" -m pytest tests -m gpu -q -p no:cacheprovider --junitxml="$out/gpu_tests.xml"
step train "$out/train.txt" "$py" benchmarks/bench_kosmos2_train.py --config "$config" --modes checkpointing \
    --steps 30 --batch 4 --device "$device" --precision bf16 --train-only --frame-size 640x360 \
    --keep "$out/train" --json "$out/train.json" "${threads[@]}"
step bench "$out/bench.json" "$py" -m mvla_tui.cli bench --config "$config" --device "$device" \
    --precision "$bench_precision" --steps 50 --json "${threads[@]}"
step export "$out/export.json" "$py" -m mvla_tui.cli export --policy "$ckpt" --format "$export_format" \
    --out "$out/export" --json "${threads[@]}"
step engine_bench "$out/engine_bench.json" "$py" -m mvla_tui.cli bench --policy "$ckpt" --runtime "$engine_runtime" \
    --export "$out/export" --device "$device" --steps 50 --json "${threads[@]}"
total=$(echo "$(date +%s.%N) - $start_all" | bc)

"$py" - "$out" "$dry" "$total" "$config" <<'PY'
"""Gather the figures of every step into OUT/gpu_check.json and print them."""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out, dry, total, config = Path(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3]), sys.argv[4]


def load(name):
    path = out / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


steps = {}
for line in (out / "steps.tsv").read_text(encoding="utf-8").splitlines():
    name, rc, seconds, last = (line.split("\t") + [""])[:4]
    steps[name] = {"exit": int(rc), "seconds": round(float(seconds), 1), "last_line": last}
figures = {
    "mode": "cpu dry run, tiny random model" if dry else "GPU, full-size random model",
    "config": config,
    "weights": "RANDOM (timing and memory only)",
    "total_seconds": round(total, 1),
    "under_8_minutes": total < 480,
    "steps": steps,
}
try:
    import torch

    figures["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
except ImportError:
    figures["device"] = "unknown (torch does not import)"
try:
    suite = ET.parse(out / "gpu_tests.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    figures["gpu_tests"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
except (OSError, ET.ParseError, IndexError):
    figures["gpu_tests"] = None
train = load("train.json")
if train:
    mode = train["modes"]["checkpointing"]
    figures["train"] = {
        k: mode[k]
        for k in ("precision", "device", "window", "batch", "samples_per_s", "s_per_step", "cuda_peak_mb",
                  "peak_rss_mb", "checkpoint_bytes", "stored_parts")
    } | {"steps": len(mode["step_s"])}
bench = load("bench.json")
if bench:
    run = bench["runs"][0]
    figures["bench"] = {k: run[k] for k in ("device_name", "precision", "p50_ms", "p95_ms", "steps_per_s",
                                            "cuda_peak_mb", "peak_rss_mb", "parameters")}
export = load("export.json")
if export:
    parity = export.get("parity") or {}
    figures["export"] = {"format": export.get("format"), "precision": export.get("precision"),
                         "parity_passed": parity.get("passed"), "failures": parity.get("failures"),
                         "rows": [{k: r[k] for k in ("name", "max_abs", "cosine", "gate", "passed")}
                                  for r in parity.get("rows", [])]}
engine = load("engine_bench.json")
if engine:
    run = engine["runs"][0]
    figures["engine_bench"] = {k: run[k] for k in ("runtime", "precision_note", "p50_ms", "p95_ms",
                                                   "steps_per_s", "cuda_peak_mb")}
(out / "gpu_check.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
print(json.dumps(figures, indent=1))
failed = [n for n, s in steps.items() if s["exit"] != 0]
print(f"gpu_check: {len(steps) - len(failed)} of {len(steps)} steps passed in {total:.0f} s"
      + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
sys.exit(1 if failed else 0)
PY
