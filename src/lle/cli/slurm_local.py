"""`lle-slurm-local start|status|stop [--dir DIR]`: a private SLURM cluster on this machine (MUNGE, a controller, two
compute nodes, and accounting for sacct: slurmdbd and MariaDB; every file in one folder) to try a cluster job on
before the real cluster.

`start` prints the one line a shell needs to use it, `export SLURM_CONF=<folder>/slurm.conf` (so
`eval "$(lle-slurm-local start)"` works); then `lle-train -m hydra/launcher=submitit_slurm …` submits there, and
`stop` cancels its jobs and ends its daemons. `status` and `stop` find the cluster through --dir or SLURM_CONF.
Needs root and Debian's slurm-wlm and munge; accounting needs slurmdbd, mariadb-server-core and
mariadb-client-core, without which the cluster starts without it (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lle.cli import description


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lle-slurm-local", description=description(__doc__))
    parser.add_argument("command", choices=("start", "status", "stop"))
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="the cluster's folder (start: default a new temporary folder; status, stop: default $SLURM_CONF's)",
    )
    args = parser.parse_args(argv)
    from lle.slurm import local

    folder = args.dir
    if folder is None and args.command != "start":
        conf = os.environ.get("SLURM_CONF")
        if not conf:
            print("lle-slurm-local: error: which cluster? give --dir DIR or export SLURM_CONF", file=sys.stderr)
            return 2
        folder = Path(conf).parent
    try:
        if args.command == "start":
            return _start(local, folder)
        if args.command == "status":
            return _status(local, folder)
        stopped = local.stop(folder)
    except local.ClusterError as err:
        print(f"lle-slurm-local: error: {err}", file=sys.stderr)
        return 2
    print(f"stopped {', '.join(stopped) or 'nothing (no daemon of it was running)'}; its files stay in {folder}")
    return 0


def _start(local, folder: Path | None) -> int:
    conf = local.start(folder)
    folder = conf.parent
    print(
        f"SLURM cluster up in {folder}: partition {local.PARTITION}, nodes {' '.join(local.NODES)} "
        f"({_node_sizes(conf)}), logs in {folder / 'log'}\n"
        f"{_accounting(local, folder)}\n"
        f'use it (line below, or eval "$(lle-slurm-local start)"), then: lle-slurm-local stop --dir {folder}',
        file=sys.stderr,
    )
    print(f"export SLURM_CONF={conf}")
    return 0


def _status(local, folder: Path) -> int:
    daemons = local.running_daemons(folder)
    states = local.node_states(folder) if "slurmctld" in daemons else {}
    print(f"{folder}: " + (", ".join(f"{name} ({pid})" for name, pid in daemons.items()) or "no daemon running"))
    if states:
        print("nodes: " + ", ".join(f"{node} {state}" for node, state in states.items()))
    if daemons:
        print(_accounting(local, folder))
    return 0 if daemons and states else 1


def _accounting(local, folder: Path) -> str:
    if local.has_accounting(folder):
        return "accounting: slurmdbd and MariaDB (sacct lists the jobs)"
    return f"accounting: none, sacct does not work: {local.accounting_unavailable() or 'started without it'}"


def _node_sizes(conf: Path) -> str:
    line = next(line for line in conf.read_text().splitlines() if line.startswith("NodeName="))
    fields = dict(field.split("=", 1) for field in line.split())
    return f"{fields['CPUs']} CPU(s) and {int(fields['RealMemory']) // 1024} GB each"


if __name__ == "__main__":
    raise SystemExit(main())
