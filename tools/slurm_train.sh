#!/usr/bin/env bash
# Train on a Slurm cluster: submit tools/slurm_job.sh with sbatch, one task
# per GPU (MMEngine's "slurm" launcher). SIGNAL_BEFORE seconds before the
# job's time limit Slurm sends it SIGUSR1: training finishes its optimiser
# step, writes a checkpoint and stops, and the job is requeued; it starts
# again with --resume auto (from the newest checkpoint of WORK_DIR, or a new
# run where there is none) until the training is done. A job preempted by
# Slurm gets SIGTERM and stops the same way.
#
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments]
#
# GPUS (total, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (6), TIME (the
# job's time limit, e.g. 24:00:00; default the partition's), SIGNAL_BEFORE
# (90), SBATCH_ARGS. The job's output: WORK_DIR/slurm-<job id>.out, added to
# at each requeue.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-6}
SIGNAL_BEFORE=${SIGNAL_BEFORE:-90}
SBATCH_ARGS=${SBATCH_ARGS:-""}
mkdir -p "$WORK_DIR"
# shellcheck disable=SC2086
exec sbatch --partition="$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --signal=B:USR1@"$SIGNAL_BEFORE" --requeue --open-mode=append \
    --output="$WORK_DIR/slurm-%j.out" ${TIME:+--time="$TIME"} $SBATCH_ARGS \
    "$ROOT/tools/slurm_job.sh" "$ROOT" "$CONFIG" "$WORK_DIR" "${@:5}"
