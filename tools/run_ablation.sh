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
# the console shows one progress line per running run every POLL_S=30
# seconds with its iteration and an ETA for the whole ladder.
#
# ABLATION_JOBS=N trains N runs at a time, each with nproc/N threads (unless
# OMP_NUM_THREADS is set): on a 2-core CPU, 2 one-thread runs finish the
# ladder sooner than one two-thread run at a time (README, Results). The
# costs (train s/iter, inference ms) are measured alone afterwards, with
# COST_THREADS threads, either way.
#
# Env: ABLATION_DIR (default work_dirs/ablation), DATA_DIR, PY, OMP_NUM_THREADS,
# ABLATION_CFG_OPTIONS (extra training --cfg-options, space-separated, e.g.
# for a quick check: "train_cfg.max_iters=2"), COST_REPEATS (default 5),
# COST_THREADS (threads for the cost measurement; default: all cores).
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
JOBS=${ABLATION_JOBS:-1}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "run_ablation.sh: ABLATION_JOBS is a positive integer, got '$JOBS'" >&2; exit 2; }
# The machine's cores (GNU nproc reports OMP_NUM_THREADS instead when it is
# set, and make ablation sets it to 1), shared out between the runs at a time.
cores() { env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2; }
THREADS=$(( $(cores) / JOBS ))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( THREADS > 0 ? THREADS : 1 ))}
# the costs are measured alone, on all cores unless COST_THREADS says
COST_THREADS=${COST_THREADS:-$(cores)}
if [ $# -gt 0 ]; then SEEDS=("$@"); else SEEDS=(0 1 2); fi
for S in "${SEEDS[@]}"; do
    [[ "$S" =~ ^[0-9]+$ ]] || { echo "run_ablation.sh: seeds are integers, got '$S'" >&2; exit 2; }
done

A=configs/demo/ablations
LABELS=("stock Mask R-CNN" "+BPA" "+AFP" "+FF" "+HHD (PANet)")
CONFIGS=(configs/demo/mask-rcnn_r18_fpn-gn_demo.py
         $A/mask-rcnn_r18_bufpn-gn_demo.py
         $A/mask-rcnn-afp_r18_bufpn-gn_demo.py
         $A/panet-2fc_r18_bufpn-gn_demo.py
         configs/demo/panet_r18_bufpn-gn_demo.py)
if [ "${ABLATION_SINGLES:-0}" = 1 ]; then
    LABELS+=("AFP only" "FF only")
    CONFIGS+=($A/mask-rcnn-afp_r18_fpn-gn_demo.py $A/mask-rcnn-ff_r18_fpn-gn_demo.py)
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

run_dir() { echo "$OUT/$(basename "$1" .py)_seed$2"; }  # $1 config, $2 seed

# The latest checkpoint of run directory $1, looked up in that directory:
# mmengine's last_checkpoint holds an absolute path, stale once the run
# directory has moved (ABLATION_DIR renamed, runs gathered from elsewhere).
checkpoint_in() { echo "$1/$(basename "$(cat "$1/last_checkpoint")")"; }

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

# Train (or resume) and test one run; run in the background by the loop below.
run_one() {  # $1 run index K, $2 seed, $3 config index
    local k=$1 seed=$2 i=$3 config work tag start end
    config=${CONFIGS[$i]}
    work=$(run_dir "$config" "$seed")
    tag="[$k/$TOTAL] ${LABELS[$i]}, seed $seed"
    mkdir -p "$work"
    start=$(date +%s)
    if [ ! -f "$work/train_done" ]; then
        if [ -f "$work/last_checkpoint" ]; then
            echo "$tag: resuming from $(cat "$work/last_checkpoint") (log: $work/run.log)"
        else
            echo "$tag: training (log: $work/run.log)"
        fi
        if ! "$PY" tools/train.py "$config" --work-dir "$work" --resume \
                --cfg-options "randomness.seed=$seed" "${DEMO_DATA_OPTS[@]}" \
                "train_cfg.val_begin=100000000" \
                "default_hooks.checkpoint.interval=$CKPT_INTERVAL" ${EXTRA_OPTS[@]+"${EXTRA_OPTS[@]}"} \
                >> "$work/run.log" 2>&1; then
            echo "$tag: training failed; last lines of $work/run.log:" >&2
            tail -n 20 "$work/run.log" >&2
            return 1
        fi
        touch "$work/train_done"
    fi
    echo "$tag: testing"
    if ! "$PY" tools/test.py "$config" "$(checkpoint_in "$work")" \
            --work-dir "$work" --save-metrics "$work/test_metrics.json.tmp" \
            --cfg-options "${DEMO_DATA_OPTS[@]}" >> "$work/run.log" 2>&1; then
        echo "$tag: testing failed; last lines of $work/run.log:" >&2
        tail -n 20 "$work/run.log" >&2
        return 1
    fi
    mv "$work/test_metrics.json.tmp" "$work/test_metrics.json"
    end=$(date +%s)
    # for the ETA of later runs (a resumed run counts only its last part)
    [ -f "$work/duration_s" ] || echo $((end - start)) > "$work/duration_s"
    "$PY" -c "import json; m = json.load(open('$work/test_metrics.json')); \
print('$tag: segm AP %.3f, bbox AP %.3f in %d s' % (m['coco/segm_mAP'], m['coco/bbox_mAP'], $end - $start))"
}

echo "== demo data -> $DATA_DIR"
if [ ! -f "$DATA_DIR/annotations/instances_val.json" ]; then
    "$PY" tools/make_demo_data.py --out "$DATA_DIR" --seed 0
fi
source tools/demo_data_options.sh  # -> DEMO_DATA_OPTS

TOTAL=$((${#SEEDS[@]} * ${#CONFIGS[@]}))
PENDING=()  # "K SEED CONFIG_INDEX" of the runs still to do, in ladder order
K=0
for SEED in "${SEEDS[@]}"; do
    for i in "${!CONFIGS[@]}"; do
        K=$((K + 1))
        if [ -f "$(run_dir "${CONFIGS[$i]}" "$SEED")/test_metrics.json" ]; then
            echo "[$K/$TOTAL] ${LABELS[$i]}, seed $SEED: done before, skipped"
        else
            PENDING+=("$K $SEED $i")
        fi
    done
done

# Start up to JOBS runs at a time; every POLL_S seconds print each running
# run's iteration and an ETA for the rest. After a failure no new run
# starts, the running ones finish, and the script exits 1.
LADDER_START=$(date +%s)
NEXT=0 FAILED=0 LAST_REPORT=$LADDER_START
PIDS=() RUN_ARGS=() RUN_START=()
# Interrupted (Ctrl-C, kill): stop the running runs too (background commands
# of a script ignore SIGINT); a rerun resumes them from their checkpoints.
descendants() {  # every process below $1 (training, its data workers)
    local c
    for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done
}
stop_runs() {
    local p
    for p in ${PIDS[@]+"${PIDS[@]}"}; do
        kill -TERM $(descendants "$p") "$p" 2>/dev/null || true
    done
}
trap 'echo "run_ablation.sh: interrupted, stopping the running runs" >&2; stop_runs; exit 130' INT TERM
while { [ $FAILED = 0 ] && [ $NEXT -lt ${#PENDING[@]} ]; } || [ ${#PIDS[@]} -gt 0 ]; do
    for j in "${!PIDS[@]}"; do  # collect finished runs
        kill -0 "${PIDS[$j]}" 2>/dev/null && continue
        wait "${PIDS[$j]}" || FAILED=1
        unset 'PIDS[j]' 'RUN_ARGS[j]' 'RUN_START[j]'
    done
    PIDS=(${PIDS[@]+"${PIDS[@]}"}) RUN_ARGS=(${RUN_ARGS[@]+"${RUN_ARGS[@]}"})
    RUN_START=(${RUN_START[@]+"${RUN_START[@]}"})
    while [ $FAILED = 0 ] && [ ${#PIDS[@]} -lt "$JOBS" ] && [ $NEXT -lt ${#PENDING[@]} ]; do
        # shellcheck disable=SC2086
        run_one ${PENDING[$NEXT]} &
        PIDS+=($!) RUN_ARGS+=("${PENDING[$NEXT]}") RUN_START+=("$(date +%s)")
        NEXT=$((NEXT + 1))
    done
    sleep 1
    NOW=$(date +%s)
    [ $((NOW - LAST_REPORT)) -ge "$POLL_S" ] || continue
    LAST_REPORT=$NOW
    if [ $NEXT -lt ${#PENDING[@]} ]; then
        read -r k _ _ <<< "${PENDING[$NEXT]}"
        REST=$(estimate_left "$k")
    else
        REST=0
    fi
    if [ "$REST" -ge 0 ]; then
        ETA="ladder ETA $(hms $((REST / JOBS))) after the running run(s)"
    else
        ETA="ladder ETA after the first run"
    fi
    for j in "${!PIDS[@]}"; do
        read -r k seed i <<< "${RUN_ARGS[$j]}"
        LOG="$(run_dir "${CONFIGS[$i]}" "$seed")/run.log"
        IT=$(grep -o 'Iter(train) \[ *[0-9]*/[0-9]*\]' "$LOG" 2>/dev/null | tail -n1 \
             | tr -dc '0-9/' || true)
        echo "  [$k/$TOTAL] ${LABELS[$i]}, seed $seed: iter ${IT:-0/?}, $(hms $((NOW - RUN_START[j]))) in this run; $ETA"
    done
done
[ $FAILED = 0 ] || { echo "run_ablation.sh: a run failed (above); rerun to continue" >&2; exit 1; }
echo "ladder runs finished ($(hms $(($(date +%s) - LADDER_START))) in this invocation)"

RUNGS=()
for i in "${!CONFIGS[@]}"; do
    RUNGS+=("${LABELS[$i]}=${CONFIGS[$i]}")
done
# The costs are measured once, all configs in one process. When this
# invocation brings configs costs.json lacks (ABLATION_SINGLES, another
# ABLATION_ONLY subset), the ones measured before are measured again with
# them: the file only grows, and its numbers always come from one process.
MEASURED=()  # the configs in costs.json (none if it is missing or unreadable)
if [ -f "$OUT/costs.json" ]; then
    mapfile -t MEASURED < <("$PY" -c "import json, sys; \
sys.stdout.write(''.join(c + '\n' for c in json.load(open(sys.argv[1]))['configs']))" \
        "$OUT/costs.json" 2>/dev/null || true)
fi
COST_CONFIGS=("${CONFIGS[@]}")
for c in ${MEASURED[@]+"${MEASURED[@]}"}; do
    [[ " ${COST_CONFIGS[*]} " == *" $c "* ]] || COST_CONFIGS+=("$c")
done
# more configs than measured: one of this invocation's is not measured yet
if [ ${#COST_CONFIGS[@]} -gt ${#MEASURED[@]} ]; then
    CKPTS=()
    for c in "${COST_CONFIGS[@]}"; do  # the first seed's weights, else any seed's
        f="$(run_dir "$c" "${SEEDS[0]}")/last_checkpoint"
        [ -f "$f" ] || f=$(ls "$(run_dir "$c" '')"*/last_checkpoint 2>/dev/null | head -n1)
        [ -n "$f" ] || { echo "run_ablation.sh: no trained run of $c in $OUT for its costs" >&2; exit 1; }
        CKPTS+=("$(checkpoint_in "$(dirname "$f")")")
    done
    echo "== costs: parameters, FLOPs, train step, inference (seed ${SEEDS[0]} checkpoints), memory"
    OMP_NUM_THREADS=$COST_THREADS "$PY" tools/analysis/ablation_costs.py "${COST_CONFIGS[@]}" --checkpoints "${CKPTS[@]}" \
        --data-root "$DATA_DIR" --repeats "${COST_REPEATS:-5}" --out "$OUT/costs.json.tmp" 2>&1 \
        | grep -v -i -E 'warn|^ *_bootstrap|import pkg_resources' || true
    [ -f "$OUT/costs.json.tmp" ] || { echo "measuring the costs failed" >&2; exit 1; }
    mv "$OUT/costs.json.tmp" "$OUT/costs.json"
fi
echo "== table"
"$PY" tools/analysis/ablation_table.py --root "$OUT" --costs "$OUT/costs.json" \
    --out "$OUT/ablation" "${RUNGS[@]}"
