#!/bin/bash
# Written by nnx export slurm: experiment cuda (testdata/cuda.yaml)
# in 20 shard(s), at most 5 task(s) at a time.
# Array task I runs shard I of 20 into the results directory on the
# shared filesystem; when every task has finished, run 'nnx report' on it.
# Submit with: sbatch FILE
# shellcheck disable=SC2016 # values in single quotes are meant literally
#SBATCH --job-name=cuda-sweep
#SBATCH --array=0-19%5
#SBATCH --output=cuda-sweep-%A_%a.out
#SBATCH --partition=gpu,gpu-long
#SBATCH --time=1-12:00:00
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --gres=gpu:1
set -euo pipefail
cd -- '/home/me/my nnx'
export NNX_DATA=/data/mnist
export NOTE='it'\''s "quoted" $(not run)'
exec ./nnx run testdata/cuda.yaml --set seed=7 --set train.batch_size=64 --shard "${SLURM_ARRAY_TASK_ID}/20" --results '/shared/nnx results' --jobs 4
