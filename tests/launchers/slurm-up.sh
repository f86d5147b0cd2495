#!/usr/bin/env bash
# Starts a one-node Slurm on this machine (controller and compute node both here), for
# the launcher tests: munge for authentication, slurmctld, slurmd. Needs root and
# Debian's slurm-wlm and munge (installed by .ci/run). Idempotent: a Slurm already up
# is left as it is. Prints one line and exits 0 when the node is idle, or exits 1 with
# the reason on stderr.
set -euo pipefail

fail() { echo "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "not root: cannot start slurmctld and slurmd"
for p in munged slurmctld slurmd sinfo; do
  command -v "$p" >/dev/null || fail "$p is not installed (apt-get install slurm-wlm munge)"
done

# Up already: the node takes jobs (idle, or busy with jobs that are ending).
if sinfo -h -o %T 2>/dev/null | grep -Eq "^(idle|mixed|allocated|completing)"; then
  echo "slurm: already up"
  exit 0
fi

node=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
memory=$((memory * 9 / 10))

# munge: its key, its run folder (owned by the munge user), the daemon.
mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  rm -f /run/munge/munged.pid
  su -s /bin/sh munge -c /usr/sbin/munged || fail "munged did not start"
fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=tessera-test
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((memory / cpus))
ReturnToService=2
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
KillWait=30
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$node CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
rm -f /etc/slurm/cgroup.conf

rm -f /run/slurmctld.pid /run/slurmd.pid
pgrep -x slurmctld >/dev/null || slurmctld || fail "slurmctld did not start: $(tail -n 3 /var/log/slurm/slurmctld.log 2>/dev/null)"
pgrep -x slurmd >/dev/null || slurmd || fail "slurmd did not start: $(tail -n 3 /var/log/slurm/slurmd.log 2>/dev/null)"

for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    echo "slurm: up, node $node idle ($cpus CPUs, $memory MiB)"
    exit 0
  fi
  scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
  sleep 0.5
done
fail "the Slurm node did not become idle within 30 s: $(sinfo -h -o '%T %E' 2>&1 | head -n 1); $(tail -n 2 /var/log/slurm/slurmd.log 2>/dev/null)"
