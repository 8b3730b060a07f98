"""A private SLURM cluster on this machine: MUNGE, a controller and two compute nodes (`n1`, `n2`), and job
accounting (slurmdbd with its own MariaDB, so that `sacct` lists the jobs), with every file they use
(configuration, MUNGE key and socket, database, state, spool, pid and log files) in one folder. Nothing of the
machine's own SLURM, MUNGE or MariaDB set-up is read or touched (MariaDB runs with --no-defaults on a port of its
own); clients find the cluster through `SLURM_CONF`.

The SLURM tests run their jobs on it (tests/slurm), and a user tries a cluster job on it before the real cluster
(`lle-slurm-local start|status|stop`, docs/scaling.md). It needs Debian's `slurm-wlm` and `munge` and root (slurmd
starts each job as its user); without `slurmdbd`, `mariadb-server-core` and `mariadb-client-core` it starts without
accounting and says so. Each start begins with an empty database, as the controller begins without jobs.

Where it differs from a real cluster, the difference is set here, never in lle: the two nodes are one host, so their
names do not resolve, and each task is told the first node's address (MASTER_ADDR=127.0.0.1, through SLURM's
TaskProlog) for torch.distributed's rendezvous; each node gets half of this machine's CPUs and memory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CLUSTER_NAME = "lle-local"
NODES = ("n1", "n2")
PARTITION = "debug"
CLIENTS = ("sbatch", "sinfo", "squeue", "scancel", "scontrol")
DAEMONS = ("munged", "slurmctld", "slurmd")
# Job accounting (sacct), optional: MariaDB, its installer (which needs my_print_defaults) and slurmdbd.
ACCOUNTING = ("mariadb-install-db", "my_print_defaults", "mariadbd", "slurmdbd", "sacct")
ACCOUNTING_PACKAGES = "slurmdbd mariadb-server-core mariadb-client-core"
# The order in which stop ends them: each goes while what it reports to is still there.
STOP_ORDER = ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged")
# Enough for a few jobs' records, where MariaDB's defaults write 100 MB of InnoDB log and buffer 128 MB (slurmdbd's
# log calls them "not recommended values", meant for a real cluster's database).
MARIADB_SIZES = ("--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M")
SBIN = ("/usr/sbin", "/sbin")  # the daemons' folder, often missing from a non-root PATH


class ClusterError(RuntimeError):
    """The local cluster could not be started, reached or stopped; the message says why and what to do."""


def tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))


def unavailable() -> str | None:
    """Why a local cluster cannot run on this machine, or None when it can."""
    missing = [name for name in (*DAEMONS, *CLIENTS) if tool(name) is None]
    if missing:
        return f"{', '.join(missing)} not found: install SLURM and MUNGE (Debian: apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the local SLURM cluster runs its daemons as root (slurmd starts jobs as their user); run it as root"
    return None


def accounting_unavailable() -> str | None:
    """Why the local cluster would start without accounting (sacct), or None when it has it."""
    missing = [name for name in ACCOUNTING if tool(name) is None]
    if missing:
        return f"{', '.join(missing)} not found: install slurmdbd and MariaDB (apt-get install {ACCOUNTING_PACKAGES})"
    return None


def has_accounting(folder: Path) -> bool:
    """Whether the cluster in `folder` was started with accounting (its slurm.conf sends jobs to slurmdbd)."""
    conf = conf_path(folder)
    return conf.exists() and "AccountingStorageType=accounting_storage/slurmdbd" in conf.read_text()


def conf_path(folder: Path) -> Path:
    return folder / "slurm.conf"


def client_env(folder: Path) -> dict[str, str]:
    """The environment of a SLURM command (sbatch, sinfo, lle-train -m hydra/launcher=submitit_slurm) for this
    cluster."""
    return {**os.environ, "SLURM_CONF": str(conf_path(folder))}


def start(folder: Path | None = None, timeout: float = 90) -> Path:
    """Start the cluster in `folder` (default: a new temporary folder) and return its slurm.conf once both
    nodes are idle; with accounting (sacct) when MariaDB and slurmdbd are installed. What was started is stopped
    again if the cluster does not come up."""
    reason = unavailable()
    if reason:
        raise ClusterError(reason)
    folder = Path(folder or tempfile.mkdtemp(prefix="lle-slurm-")).absolute()
    if running_daemons(folder):
        raise ClusterError(f"a cluster already runs in {folder}; stop it first: lle-slurm-local stop --dir {folder}")
    for sub in ("munge", "state", "spool", "log"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.pid"):  # of daemons that no longer run (checked above): start waits for new ones
        stale.unlink()
    accounting = accounting_unavailable() is None
    ports = _write_files(folder, accounting)
    try:
        _daemon(
            folder,
            "munged",
            f"--key-file={folder / 'munge' / 'munge.key'}",
            f"--socket={folder / 'munge' / 'socket'}",
            f"--pid-file={folder / 'munged.pid'}",
            f"--log-file={folder / 'log' / 'munged.log'}",
            f"--seed-file={folder / 'munge' / 'seed'}",
            "--force",  # the temporary folder's parent (/tmp) is world-writable, which munged otherwise refuses
        )
        if accounting:
            _start_accounting(folder, ports, timeout)
        _daemon(folder, "slurmctld", "-c", "-f", str(conf_path(folder)))  # -c: no jobs kept from an earlier start
        for node in NODES:
            _daemon(folder, "slurmd", "-f", str(conf_path(folder)), "-N", node)
        _wait_until_idle(folder, timeout)
    except BaseException:
        stop(folder)
        raise
    return conf_path(folder)


def _start_accounting(folder: Path, ports: dict[str, int], timeout: float) -> None:
    """MariaDB (a new, empty database each start, as slurmctld -c starts without jobs), then slurmdbd."""
    data = folder / "mariadb"
    shutil.rmtree(data, ignore_errors=True)
    # --no-defaults: the machine's own MariaDB configuration (/etc/mysql) is never read.
    server = ["--no-defaults", "--user=root", f"--datadir={data}", *MARIADB_SIZES]
    _client(folder, "mariadb-install-db", *server, "--skip-test-db", "--auth-root-authentication-method=socket")
    log = folder / "log" / "mariadbd.log"
    seen = log.stat().st_size if log.exists() else 0  # the log is appended to; read this start's part only
    mariadbd = subprocess.Popen(  # it stays in the foreground: its own session, so that it outlives this process
        [
            tool("mariadbd"),
            *server,
            f"--socket={folder / 'mariadb.sock'}",
            f"--pid-file={folder / 'mariadbd.pid'}",
            f"--log-error={log}",
            f"--port={ports['mariadb']}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--init-file={folder / 'mariadb-init.sql'}",  # slurmdbd's database user
        ],
        env=client_env(folder),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Its pid file at once (mariadbd writes the same pid there later), so that a start failing from here stops it.
    (folder / "mariadbd.pid").write_text(f"{mariadbd.pid}\n")

    def ready() -> bool:  # it logs this once its init file (slurmdbd's database user) has run
        text = log.read_bytes()[seen:].decode(errors="replace") if log.exists() else ""
        if mariadbd.poll() is not None:
            raise ClusterError(f"mariadbd did not start:\n{text[-2000:]}")
        return "ready for connections" in text

    if not _wait(ready, timeout, every=0.1):
        raise ClusterError(f"mariadbd is not ready after {timeout:.0f} s; its log: {log}")
    _daemon(folder, "slurmdbd")  # reads slurmdbd.conf beside $SLURM_CONF
    pid_file = folder / "slurmdbd.pid"  # written by the forked daemon, a moment after _daemon returns
    _wait(lambda: _listens(ports["slurmdbd"]) or (pid_file.exists() and _pid_of(pid_file, "slurmdbd") is None), timeout)
    if not _listens(ports["slurmdbd"]):
        raise ClusterError("slurmdbd does not answer:\n" + _log_tail(folder, "slurmdbd"))
    # slurmctld, started next, adds the cluster to the database itself (sacctmgr -i add cluster is not needed).


def node_states(folder: Path) -> dict[str, str]:
    """Each node's state as sinfo shows it (idle, alloc, down*, …); empty while the controller does not answer."""
    done = subprocess.run(
        [tool("sinfo"), "--noheader", "--Node", "--format=%N %t"],
        env=client_env(folder),
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode:
        return {}
    return dict(line.split() for line in done.stdout.splitlines() if line.strip())


def running_daemons(folder: Path) -> dict[str, int]:
    """The daemons of the cluster in `folder` that are running: name (slurmd.n1, …) → pid."""
    found = {}
    for pid_file in sorted(folder.glob("*.pid")):
        name = pid_file.stem
        pid = _pid_of(pid_file, name.split(".")[0])
        if pid is not None:
            found[name] = pid
    return found


def stop(folder: Path, timeout: float = 30) -> list[str]:
    """Cancel the cluster's jobs, then end exactly the daemons it started (by pid, checking each pid's process
    name) and what is left of its jobs (processes whose environment names this cluster's slurm.conf). Returns
    what was stopped."""
    folder = Path(folder).absolute()
    stopped = []
    if tool("squeue") and "slurmctld" in running_daemons(folder):
        jobs = _client(folder, "squeue", "--noheader", "--format=%A", check=False).split()
        if jobs:  # a controller that does not answer leaves them to the last step below
            _client(folder, "scancel", *jobs, check=False)
            _wait(lambda: not _client(folder, "squeue", "--noheader", "--format=%A", check=False).split(), timeout=15)
    for name in sorted(running_daemons(folder), key=lambda n: STOP_ORDER.index(n.split(".")[0])):
        pid = _pid_of(folder / f"{name}.pid", name.split(".")[0])
        if pid is not None and _end(pid, timeout):
            stopped.append(f"{name} ({pid})")
    for pid in _job_processes(folder):
        if _end(pid, timeout):
            stopped.append(f"job process {pid}")
    return stopped


def _write_files(folder: Path, accounting: bool) -> dict[str, int]:
    """Write the cluster's files; returns the ports chosen for MariaDB and slurmdbd (none without accounting)."""
    key = folder / "munge" / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    key.chmod(0o400)  # munged refuses a key that others can read
    prolog = folder / "task_prolog.sh"
    prolog.write_text(
        "#!/bin/sh\n"
        "# Both nodes are this host and their names (n1, n2) do not resolve: the first node's address for\n"
        "# torch.distributed's rendezvous (Lightning's SLURM environment reads MASTER_ADDR before SLURM_NODELIST).\n"
        "echo export MASTER_ADDR=127.0.0.1\n"
    )
    prolog.chmod(0o755)
    # All ports in one call, so that no two of them can be the same.
    controller, *node_ports, mariadb, slurmdbd = _free_ports(1 + len(NODES) + 2)
    ports = {"mariadb": mariadb, "slurmdbd": slurmdbd} if accounting else {}
    conf_path(folder).write_text(_slurm_conf(folder, controller, node_ports, ports.get("slurmdbd")))
    if accounting:
        password = secrets.token_hex(16)  # a new database each start, so a new password too
        _write_private(
            folder / "mariadb-init.sql",
            f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';\n",
        )
        _write_private(folder / "slurmdbd.conf", _slurmdbd_conf(folder, ports, password))
    return ports


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds the database password; slurmdbd insists on mode 600)."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(text)


def _slurm_conf(folder: Path, controller: int, node_ports: list[int], slurmdbd: int | None) -> str:
    host = socket.gethostname()
    cpus = max(1, (os.cpu_count() or 2) // len(NODES))
    memory_mb = max(500, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // len(NODES))
    nodes = "\n".join(
        f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs={cpus} RealMemory={memory_mb} "
        "State=UNKNOWN"
        for node, port in zip(NODES, node_ports)
    )
    if slurmdbd is None:
        accounting = "AccountingStorageType=accounting_storage/none"
    else:
        accounting = f"""AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={slurmdbd}
# With slurmdbd, SLURM's clients (sacct, slurmctld) take the MUNGE socket from here, not from AuthInfo.
AccountingStoragePass={folder / "munge" / "socket"}"""
    return f"""# A private SLURM cluster written by lle-slurm-local: every file it uses is in {folder}.
ClusterName={CLUSTER_NAME}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={controller}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder / "munge" / "socket"}
StateSaveLocation={folder / "state"}
SlurmdSpoolDir={folder / "spool" / "%n"}
SlurmctldPidFile={folder / "slurmctld.pid"}
SlurmdPidFile={folder / "slurmd.%n.pid"}
SlurmctldLogFile={folder / "log" / "slurmctld.log"}
SlurmdLogFile={folder / "log" / "slurmd.%n.log"}
# No cgroups (containers rarely allow them): processes are tracked by process group, tasks are not bound.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
TaskProlog={folder / "task_prolog.sh"}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Pre-empted and timed-out jobs may be requeued (sbatch --requeue; lle's jobs requeue themselves on SIGUSR1).
JobRequeue=1
ReturnToService=2
KillWait=5
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
{accounting}
{nodes}
PartitionName={PARTITION} Nodes={",".join(NODES)} Default=YES MaxTime=INFINITE State=UP
"""


def _slurmdbd_conf(folder: Path, ports: dict[str, int], password: str) -> str:
    return f"""# The accounting of the private SLURM cluster in {folder}: slurmdbd and its own MariaDB.
AuthType=auth/munge
AuthInfo=socket={folder / "munge" / "socket"}
# slurmdbd only answers when DbdHost is this host's name; it listens on DbdAddr.
DbdHost={socket.gethostname()}
DbdAddr=127.0.0.1
DbdPort={ports["slurmdbd"]}
SlurmUser=root
PidFile={folder / "slurmdbd.pid"}
LogFile={folder / "log" / "slurmdbd.log"}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["mariadb"]}
StorageUser=slurm
StoragePass={password}
StorageLoc=slurm_acct_db
"""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _daemon(folder: Path, name: str, *args: str) -> None:
    """Start a daemon, which forks into the background and writes its pid file."""
    done = subprocess.run(
        [tool(name), *args], env=client_env(folder), capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode:
        raise ClusterError(f"{name} did not start: {(done.stderr or done.stdout).strip()}\n" + _log_tail(folder, name))


def _log_tail(folder: Path, name: str, lines: int = 5) -> str:
    log = sorted((folder / "log").glob(f"{name}*.log"))
    return "\n".join(log[-1].read_text(errors="replace").splitlines()[-lines:]) if log else ""


def _listens(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_until_idle(folder: Path, timeout: float) -> None:
    if not _wait(lambda: [node_states(folder).get(node) for node in NODES] == ["idle"] * len(NODES), timeout):
        raise ClusterError(
            f"the nodes are not idle after {timeout:.0f} s ({node_states(folder) or 'no answer from slurmctld'}); "
            f"logs in {folder / 'log'}"
        )


def _client(folder: Path, name: str, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [tool(name), *args], env=client_env(folder), capture_output=True, text=True, timeout=60, check=False
    )
    if check and done.returncode:
        raise ClusterError(f"{name} {' '.join(args)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _wait(condition, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def _pid_of(pid_file: Path, name: str) -> int | None:
    """The pid in `pid_file` if that process is running and is `name` (a stale pid may belong to another)."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _process_name(pid) == name and _alive(pid) else None


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _end(pid: int, timeout: float) -> bool:
    """SIGTERM, then SIGKILL if it is still there after `timeout`; True when it has gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if not _wait(lambda: not _alive(pid), timeout, every=0.1):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: not _alive(pid), 5, every=0.1)
    return True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def _job_processes(folder: Path) -> list[int]:
    """Job steps and tasks of this cluster still running after the daemons ended: slurmstepd (its name) and the
    jobs' processes (SLURM_CLUSTER_NAME), with this cluster's SLURM_CONF in their environment. The shell that
    started the cluster has its SLURM_CONF too, but neither of the others."""
    marker = f"SLURM_CONF={conf_path(folder)}".encode()
    cluster = f"SLURM_CLUSTER_NAME={CLUSTER_NAME}".encode()
    own = {os.getpid(), os.getppid()}
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in own:
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ and (cluster in environ or _process_name(int(proc.name)) == "slurmstepd"):
            found.append(int(proc.name))
    return found
