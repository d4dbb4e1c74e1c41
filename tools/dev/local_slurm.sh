#!/usr/bin/env bash
# A one-machine Slurm cluster for trying the Slurm launchers (and the tests
# marked `slurm`): munged, slurmctld and one slurmd whose node has this
# machine's CPUs, in one partition.
#
#   sudo tools/dev/local_slurm.sh up       # install (Debian/Ubuntu) and start
#   sudo tools/dev/local_slurm.sh status
#   sudo tools/dev/local_slurm.sh down     # stop the daemons, keep the packages
#
# Knobs: SLURM_PARTITION (default debug), SLURM_CPUS (default: nproc),
# SLURM_STATE_DIR (logs, pids, spool; default /var/tmp/panet_slurm),
# NO_INSTALL=1 (fail instead of running apt-get when Slurm is missing).
# It writes /etc/slurm/slurm.conf (keeping an existing one as
# slurm.conf.panet-backup): meant for a development machine or CI, not for a
# machine that is already part of a cluster.
set -euo pipefail
ACTION=${1:-up}
PARTITION=${SLURM_PARTITION:-debug}
CPUS=${SLURM_CPUS:-$(nproc)}
STATE=${SLURM_STATE_DIR:-/var/tmp/panet_slurm}
CONF=/etc/slurm/slurm.conf
NODE=$(hostname -s)

say() { echo "local_slurm: $*"; }
die() { echo "local_slurm: ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it starts daemons and writes $CONF)"

stop_pidfile() {  # name pidfile
    local pid
    pid=$(cat "$2" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" && say "stopped $1"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$2"
}

down() {
    command -v scancel >/dev/null 2>&1 && scancel --quiet --partition="$PARTITION" 2>/dev/null || true
    stop_pidfile slurmd "$STATE/slurmd.pid"
    stop_pidfile slurmctld "$STATE/slurmctld.pid"
    stop_pidfile munged "$STATE/munged.pid"
}

status() {
    sinfo -h -p "$PARTITION" -o '%P %D %T %c' 2>/dev/null \
        || { say "not running"; return 1; }
}

up() {
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
       || ! command -v munged >/dev/null || ! command -v srun >/dev/null; then
        [ "${NO_INSTALL:-0}" = 1 ] && die "slurm-wlm / munge are not installed (NO_INSTALL=1)"
        command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm and munge with your package manager"
        say "installing slurm-wlm and munge"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurm-wlm munge >/dev/null
    fi
    down  # a clean start
    mkdir -p "$STATE/slurmd" "$STATE/slurmctld" /etc/slurm /etc/munge /run/munge /var/log/munge /var/lib/munge
    # munge: a key, directories owned by its user, the daemon
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
        else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
    fi
    if ! pgrep -x munged >/dev/null; then
        if id munge >/dev/null 2>&1; then
            chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
            chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
            runuser -u munge -- munged
        else
            munged --force
        fi
    fi
    for _ in $(seq 50); do pgrep -x munged >/dev/null && break; sleep 0.1; done
    pgrep -xo munged > "$STATE/munged.pid" || die "munged did not start (see /var/log/munge/munged.log)"
    munge -n | unmunge >/dev/null || die "munge does not authenticate (see /var/log/munge/munged.log)"

    if [ -f "$CONF" ] && ! grep -q '^# panet_mmdet local_slurm' "$CONF"; then
        cp "$CONF" "$CONF.panet-backup"
        say "kept the previous $CONF as $CONF.panet-backup"
    fi
    cat > "$CONF" <<CONF
# panet_mmdet local_slurm: a one-node cluster on $NODE (tools/dev/local_slurm.sh)
ClusterName=panet-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmdSpoolDir=$STATE/slurmd
StateSaveLocation=$STATE/slurmctld
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
    # -c: start from a clean state. A node state saved by an earlier run
    # (e.g. DRAINED "SlurmdSpoolDir is full" after the disk filled) would
    # otherwise come back and keep every job pending.
    slurmctld -c -i || die "slurmctld did not start (see $STATE/slurmctld.log)"
    slurmd -N "$NODE" || die "slurmd did not start (see $STATE/slurmd.log)"
    for _ in $(seq 100); do
        state=$(sinfo -h -p "$PARTITION" -o '%T' 2>/dev/null || true)
        case "$state" in idle*|mixed*|allocated*) break ;; esac
        sleep 0.2
    done
    case "${state:-}" in
        idle*|mixed*|allocated*) say "partition $PARTITION up: node $NODE, $CPUS CPUs ($state)" ;;
        *) die "the node did not become idle (state '${state:-none}'); see $STATE/slurmctld.log and $STATE/slurmd.log" ;;
    esac
}

case "$ACTION" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: $0 up|down|status" ;;
esac
