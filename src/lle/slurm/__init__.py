"""SLURM: what a job asks the cluster for (`lle.slurm.request`, wired in conf/hydra/launcher/submitit_slurm.yaml)
and a private cluster on this machine to try jobs on before a real one (`lle.slurm.local`, `lle-slurm-local`)."""
