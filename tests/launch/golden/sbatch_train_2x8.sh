#!/bin/bash

# Parameters
#SBATCH --account=nlp
#SBATCH --constraint=h100
#SBATCH --cpus-per-task=32
#SBATCH --error=<JOB_DIR>/%j_0_log.err
#SBATCH --exclusive
#SBATCH --gpus-per-node=8
#SBATCH --job-name=t2s-train
#SBATCH --mem=400GB
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=<JOB_DIR>/%j_0_log.out
#SBATCH --partition=gpu
#SBATCH --qos=high
#SBATCH --signal=USR2@90
#SBATCH --time=1440
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output <JOB_DIR>/%j_%t_log.out --error <JOB_DIR>/%j_%t_log.err <PYTHON> -u -m submitit.core._submit <JOB_DIR>
