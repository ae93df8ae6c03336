#! /bin/bash
#SBATCH -J slurm_huckleberry
#SBATCH -p normal_q
#SBATCH -n 1
#SBATCH -t 00:05:00
#SBATCH --mem=100M
#  module
echo ok
