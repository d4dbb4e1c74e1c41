# Sourced by tools/run_demo.sh and tools/run_ablation.sh before they start
# training: glibc malloc settings for the demo's CPU runs. By default glibc
# hands freed blocks of a few MiB back to the kernel and gets them back as
# fresh zeroed pages at the next step (about 2 million minor page faults in
# 70 steps of the two-process PANet demo). Keeping the heap (trim threshold
# and top pad that never give memory back, mmap threshold at glibc's
# maximum, 32 MiB) removed about 60% of those faults and a few percent of the
# step's time (docs/results.md). Allocation does not touch the arithmetic:
# the results are bit-for-bit the same. Other C libraries ignore these
# variables; values already set in the environment win.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-33554432}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-17179869184}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-1073741824}
