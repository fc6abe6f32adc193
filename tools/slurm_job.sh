#!/usr/bin/env bash
# The batch job that tools/slurm_train.sh submits:
#
#   sbatch --signal=B:USR1@90 --requeue [...] tools/slurm_job.sh ROOT CONFIG WORK_DIR [tools/train.py arguments]
#
# It runs tools/train.py on every task with srun and --resume auto. On the
# SIGUSR1 Slurm sends before the time limit it passes the signal on to the
# tasks (srun forwards it); when training stopped on it (exit status 75: a
# checkpoint is written) it requeues the job, which resumes from that
# checkpoint. A finished or failed training is not requeued.
set -uo pipefail
ROOT=$1
CONFIG=$2
WORK_DIR=$3
shift 3
PREEMPTED=75
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python
warned=0
step=
warn_the_tasks() {
    warned=1
    [[ -n $step ]] && kill -USR1 "$step" 2>/dev/null
}
trap warn_the_tasks USR1
srun --kill-on-bad-exit=1 "$PY" -u "$ROOT/tools/train.py" "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher slurm --resume auto "$@" &
step=$!
while true; do
    wait "$step"
    code=$?
    # a trapped signal ends the wait, not the step
    kill -0 "$step" 2>/dev/null || break
done
if ((warned)) && [[ $code == "$PREEMPTED" ]]; then
    echo "slurm_job.sh: training stopped before the time limit with a" \
        "checkpoint; requeueing job ${SLURM_JOB_ID}"
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$code"
