#!/bin/bash
# Written by nnx export slurm: experiment Big Sweep_v2 (testdata/sweep.yaml)
# in 4 shard(s), at most 4 task(s) at a time.
# Array task I runs shard I of 4 into the results directory on the
# shared filesystem; when every task has finished, run 'nnx report' on it.
# Submit with: sbatch FILE
#SBATCH --job-name=nnx-big-sweep-v2
#SBATCH --array=0-3%4
#SBATCH --output=nnx-big-sweep-v2-%A_%a.out
set -euo pipefail
exec nnx run testdata/sweep.yaml --shard "${SLURM_ARRAY_TASK_ID}/4" --results results
