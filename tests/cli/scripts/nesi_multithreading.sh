#!/bin/bash -e
#SBATCH --job-name=MultithreadingTest # job name (shows up in the queue)
#SBATCH --time=00:01:00 # Walltime (HH:MM:SS)
#SBATCH --mem=2048MB # memory in MB
#SBATCH --cpus-per-task=4 # 2 physical cores per task.
taskset -c -p $$ #Prints which CPUs it can use
