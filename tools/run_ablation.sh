#!/usr/bin/env bash
# The demo ablation ladder: train + evaluate every rung for every seed with
# mmdet's runners (tools/train.py, tools/test.py), measure what each rung
# costs, and write the table (Markdown + JSON) and the AP-vs-time plot.
#
#   bash tools/run_ablation.sh [SEEDS...]      # default: 0 1 2
#
# Rungs (configs/demo/ablations/, each adds one component to the previous):
# stock Mask R-CNN -> +BPA -> +AFP -> +FF -> +HHD (= the PANet demo).
# ABLATION_SINGLES=1 also runs AFP alone and FF alone on the stock model;
# ABLATION_ONLY="0 4" runs only the rungs of those indices (0 = stock).
#
# Resumable: a finished run (test_metrics.json) is skipped, an interrupted
# training run resumes from its last checkpoint (saved every
# CKPT_INTERVAL=240 iterations), a trained but untested one is only tested,
# and the costs are measured once. Each run's full log is RUN_DIR/run.log;
# the console shows one progress line per POLL_S=30 seconds with the
# iteration and an ETA for the whole ladder.
#
# Env: ABLATION_DIR (default work_dirs/ablation), DATA_DIR, PY, OMP_NUM_THREADS,
# ABLATION_CFG_OPTIONS (extra training --cfg-options, space-separated, e.g.
# for a quick check: "train_cfg.max_iters=2"), COST_REPEATS (default 5).
# Writes ABLATION_DIR/ablation.{md,json,png} and ABLATION_DIR/costs.json.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
OUT=${ABLATION_DIR:-work_dirs/ablation}
DATA_DIR=${DATA_DIR:-data/demo_shapes}
CKPT_INTERVAL=${CKPT_INTERVAL:-240}
POLL_S=${POLL_S:-30}
read -r -a EXTRA_OPTS <<< "${ABLATION_CFG_OPTIONS:-}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc 2>/dev/null || echo 2)}
if [ $# -gt 0 ]; then SEEDS=("$@"); else SEEDS=(0 1 2); fi
for S in "${SEEDS[@]}"; do
    [[ "$S" =~ ^[0-9]+$ ]] || { echo "run_ablation.sh: seeds are integers, got '$S'" >&2; exit 2; }
done

A=configs/demo/ablations
LABELS=("stock Mask R-CNN" "+BPA" "+AFP" "+FF" "+HHD (PANet)")
CONFIGS=(configs/demo/mask-rcnn_r18_fpn_gn_demo.py
         $A/mask-rcnn_r18_bufpn-gn_demo.py
         $A/mask-rcnn_r18_bufpn-gn-afp_demo.py
         $A/mask-rcnn_r18_bufpn-gn-afp-ff_demo.py
         $A/mask-rcnn_r18_bufpn-gn-afp-ff-hhd_demo.py)
if [ "${ABLATION_SINGLES:-0}" = 1 ]; then
    LABELS+=("AFP only" "FF only")
    CONFIGS+=($A/mask-rcnn_r18_fpn-gn-afp_demo.py $A/mask-rcnn_r18_fpn-gn-ff_demo.py)
fi
if [ -n "${ABLATION_ONLY:-}" ]; then  # a subset of the rungs, by index
    KEEP_LABELS=(); KEEP_CONFIGS=()
    for i in $ABLATION_ONLY; do
        [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -lt ${#CONFIGS[@]} ] || {
            echo "run_ablation.sh: ABLATION_ONLY takes rung indices 0-$((${#CONFIGS[@]} - 1)), got '$i'" >&2; exit 2; }
        KEEP_LABELS+=("${LABELS[$i]}"); KEEP_CONFIGS+=("${CONFIGS[$i]}")
    done
    LABELS=("${KEEP_LABELS[@]}"); CONFIGS=("${KEEP_CONFIGS[@]}")
fi
mkdir -p "$OUT"

hms() { printf '%d:%02d:%02d' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }

# Seconds the runs still to do will take: the mean duration of the finished
# runs of the same config (any invocation), else of any config.
estimate_left() {  # $1: index of the first run not yet started
    local total=0 k=0 i s name d sum n all_sum=0 all_n=0
    for d in "$OUT"/*/duration_s; do
        [ -f "$d" ] || continue
        all_sum=$((all_sum + $(cat "$d"))); all_n=$((all_n + 1))
    done
    for S in "${SEEDS[@]}"; do
        for i in "${!CONFIGS[@]}"; do
            k=$((k + 1))
            [ $k -ge $1 ] || continue
            name=$(basename "${CONFIGS[$i]}" .py)
            [ -f "$OUT/${name}_seed$S/test_metrics.json" ] && continue
            sum=0; n=0
            for d in "$OUT/${name}"_seed*/duration_s; do
                [ -f "$d" ] || continue
                sum=$((sum + $(cat "$d"))); n=$((n + 1))
            done
            if [ $n -gt 0 ]; then total=$((total + sum / n))
            elif [ $all_n -gt 0 ]; then total=$((total + all_sum / all_n))
            else echo -1; return; fi
        done
    done
    echo $total
}

# Print a progress line every POLL_S seconds while process $1 runs.
watch_run() {  # $1 pid, $2 log, $3 tag, $4 start, $5 next run index
    local pid=$1 log=$2 tag=$3 start=$4 next=$5 it now rest eta
    while kill -0 "$pid" 2>/dev/null; do
        sleep "$POLL_S" & wait $! || true
        kill -0 "$pid" 2>/dev/null || break
        it=$(grep -o 'Iter(train) \[ *[0-9]*/[0-9]*\]' "$log" 2>/dev/null | tail -n1 \
             | tr -dc '0-9/' || true)
        now=$(date +%s)
        rest=$(estimate_left "$next")
        if [ "$rest" -ge 0 ]; then eta="ladder ETA $(hms "$rest") after this run"
        else eta="ladder ETA after the first run"; fi
        echo "  $tag: iter ${it:-0/?}, $(hms $((now - start))) in this run; $eta"
    done
}

echo "== demo data -> $DATA_DIR"
if [ ! -f "$DATA_DIR/annotations/instances_val.json" ]; then
    "$PY" tools/make_demo_data.py --out "$DATA_DIR" --seed 0
fi
source tools/demo_data_options.sh  # -> DEMO_DATA_OPTS

TOTAL=$((${#SEEDS[@]} * ${#CONFIGS[@]}))
K=0
LADDER_START=$(date +%s)
for SEED in "${SEEDS[@]}"; do
    for i in "${!CONFIGS[@]}"; do
        K=$((K + 1))
        CONFIG=${CONFIGS[$i]}
        NAME=$(basename "$CONFIG" .py)
        WORK="$OUT/${NAME}_seed$SEED"
        TAG="[$K/$TOTAL] ${LABELS[$i]}, seed $SEED"
        if [ -f "$WORK/test_metrics.json" ]; then
            echo "$TAG: done before, skipped"
            continue
        fi
        mkdir -p "$WORK"
        START=$(date +%s)
        if [ ! -f "$WORK/train_done" ]; then
            if [ -f "$WORK/last_checkpoint" ]; then
                echo "$TAG: resuming from $(cat "$WORK/last_checkpoint") (log: $WORK/run.log)"
            else
                echo "$TAG: training (log: $WORK/run.log)"
            fi
            "$PY" tools/train.py "$CONFIG" --work-dir "$WORK" --resume \
                --cfg-options "randomness.seed=$SEED" "${DEMO_DATA_OPTS[@]}" \
                "train_cfg.val_begin=100000000" \
                "default_hooks.checkpoint.interval=$CKPT_INTERVAL" ${EXTRA_OPTS[@]+"${EXTRA_OPTS[@]}"} \
                >> "$WORK/run.log" 2>&1 &
            PID=$!
            watch_run "$PID" "$WORK/run.log" "$TAG" "$START" "$((K + 1))"
            if ! wait "$PID"; then
                echo "$TAG: training failed; last lines of $WORK/run.log:" >&2
                tail -n 20 "$WORK/run.log" >&2
                exit 1
            fi
            touch "$WORK/train_done"
        fi
        echo "$TAG: testing"
        if ! "$PY" tools/test.py "$CONFIG" "$(cat "$WORK/last_checkpoint")" \
                --work-dir "$WORK" --save-metrics "$WORK/test_metrics.json.tmp" \
                --cfg-options "${DEMO_DATA_OPTS[@]}" >> "$WORK/run.log" 2>&1; then
            echo "$TAG: testing failed; last lines of $WORK/run.log:" >&2
            tail -n 20 "$WORK/run.log" >&2
            exit 1
        fi
        mv "$WORK/test_metrics.json.tmp" "$WORK/test_metrics.json"
        END=$(date +%s)
        # for the ETA of later runs (a resumed run counts only its last part)
        [ -f "$WORK/duration_s" ] || echo $((END - START)) > "$WORK/duration_s"
        "$PY" -c "import json; m = json.load(open('$WORK/test_metrics.json')); \
print('$TAG: segm AP %.3f, bbox AP %.3f in %d s' % (m['coco/segm_mAP'], m['coco/bbox_mAP'], $END - $START))"
    done
done
echo "ladder runs finished ($(hms $(($(date +%s) - LADDER_START))) in this invocation)"

RUNGS=()
CKPTS=()
for i in "${!CONFIGS[@]}"; do
    RUNGS+=("${LABELS[$i]}=${CONFIGS[$i]}")
    CKPTS+=("$(cat "$OUT/$(basename "${CONFIGS[$i]}" .py)_seed${SEEDS[0]}/last_checkpoint")")
done
# measured once, again only if a config is missing (ABLATION_SINGLES added)
if ! "$PY" -c "import json, sys; c = json.load(open(sys.argv[1]))['configs']; \
sys.exit(not all(x in c for x in sys.argv[2:]))" "$OUT/costs.json" "${CONFIGS[@]}" 2>/dev/null; then
    echo "== costs: parameters, FLOPs, train step, inference (seed ${SEEDS[0]} checkpoints), memory"
    "$PY" tools/analysis/ablation_costs.py "${CONFIGS[@]}" --checkpoints "${CKPTS[@]}" \
        --data-root "$DATA_DIR" --repeats "${COST_REPEATS:-5}" --out "$OUT/costs.json.tmp" 2>&1 \
        | grep -v -i -E 'warn|^ *_bootstrap|import pkg_resources' || true
    [ -f "$OUT/costs.json.tmp" ] || { echo "measuring the costs failed" >&2; exit 1; }
    mv "$OUT/costs.json.tmp" "$OUT/costs.json"
fi
echo "== table"
"$PY" tools/analysis/ablation_table.py --root "$OUT" --costs "$OUT/costs.json" \
    --out "$OUT/ablation" "${RUNGS[@]}"
