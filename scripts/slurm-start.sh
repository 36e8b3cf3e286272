#!/usr/bin/env bash
# Bring up a single-node SLURM (munge, slurmctld, slurmd, and slurmdbd on MariaDB so that `sacct`
# works: submitit asks sacct whether a job that wrote no result was cancelled or killed). Debian, root,
# no systemd needed. Idempotent: daemons already up are left alone, configs are rewritten only when they
# change. Every daemon started here is recorded in $OWN (PID + program name); scripts/slurm-stop.sh
# stops exactly those.
#   SLURM_PARTITION [debug]  SLURM_CLUSTER [simclr]  SLURM_WAIT_S [60]  SLURM_MEM_MB [90 % of the node]
set -euo pipefail

PARTITION=${SLURM_PARTITION:-debug}
CLUSTER=${SLURM_CLUSTER:-simclr}
WAIT_S=${SLURM_WAIT_S:-60}
NODE=$(hostname -s)
OWN=/run/simclr-slurm
CONF=/etc/slurm/slurm.conf
DBD=/etc/slurm/slurmdbd.conf
LOGS=/var/log/slurm

say() { echo "[slurm-start] $*"; }
fail() {
  echo "[slurm-start] error: $*" >&2
  for f in $LOGS/slurmctld.log $LOGS/slurmd.log $LOGS/slurmdbd.log; do
    [[ -s $f ]] && { echo "--- last lines of $f" >&2; tail -n 5 "$f" >&2; }
  done
  exit 1
}
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR
[[ $EUID -eq 0 ]] || fail "needs root (it installs packages and starts daemons)"
command -v apt-get >/dev/null || fail "needs Debian/Ubuntu (apt-get)"

poll() {  # poll <seconds> <what> <command...>
  local end=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || fail "gave up after $WAIT_S s waiting for $what"
    sleep 0.5
  done
}
mkdir -p "$OWN"
running() {  # running <name>: the PID we recorded still runs the program we recorded
  [[ -f $OWN/$1.pid ]] || return 1
  [[ "$(cat /proc/"$(<"$OWN/$1.pid")"/comm 2>/dev/null)" == "$(<"$OWN/$1.comm")" ]]
}
pidfile_alive() { local p; p=$(cat "$1" 2>/dev/null) && [[ "$(cat /proc/"$p"/comm 2>/dev/null)" == "$2" ]]; }
remember() {  # remember <name> <pidfile> <program>: wait for the daemon's pidfile, record it
  local end=$((SECONDS + 15))
  until pidfile_alive "$2" "$3"; do ((SECONDS < end)) || fail "$1 did not start (no $2)"; sleep 0.3; done
  cat "$2" >"$OWN/$1.pid"; echo "$3" >"$OWN/$1.comm"
  say "$1 started (pid $(<"$OWN/$1.pid"))"
}

# packages
need=()
for p in munge slurmctld slurmd slurm-client slurmdbd mariadb-server; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# slurm.conf from what the node reports (a RealMemory above the real one would drain the node)
hw=$(slurmd -C | head -n 1)
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$hw"; }
cpus=$(field CPUs); mem=${SLURM_MEM_MB:-$(($(field RealMemory) * 9 / 10))}
[[ -n $cpus && -n $mem ]] || fail "cannot read 'slurmd -C': $hw"
conf="# written by scripts/slurm-start.sh: one node, accounting in slurmdbd
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
# start a submitted job within about a second (the default batch delay adds 2-3 s to each)
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((mem / cpus))
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=300
KillWait=10
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus SocketsPerBoard=$(field SocketsPerBoard) CoresPerSocket=$(field CoresPerSocket) ThreadsPerCore=$(field ThreadsPerCore) RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
changed=0
if [[ "$(cat $CONF 2>/dev/null)" != "$conf" ]]; then
  mkdir -p /etc/slurm && printf '%s\n' "$conf" >$CONF.new && mv $CONF.new $CONF && chmod 644 $CONF
  changed=1; say "wrote $CONF ($cpus CPUs, $mem MB)"
fi
install -d -o slurm -g slurm -m 0755 /var/spool/slurmctld $LOGS /run/slurm
install -d -m 0755 /var/spool/slurmd

# munge
if [[ ! -s /etc/munge/munge.key ]]; then
  install -d -o munge -g munge -m 0700 /etc/munge
  runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
munge_up() { munge -n </dev/null | unmunge; }
if ! running munged && ! munge_up >/dev/null 2>&1; then
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  poll 10 munged munge_up
  remember munged /run/munge/munged.pid munged
fi

# MariaDB (unix socket only) and slurmdbd
db_up() { mariadb-admin --no-defaults --socket=/run/mysqld/mysqld.sock ping; }
if ! running mariadbd && ! db_up >/dev/null 2>&1; then
  [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  install -d -o mysql -g mysql -m 0755 /run/mysqld /var/log/mysql
  setsid /usr/sbin/mariadbd --user=mysql --skip-networking --innodb-buffer-pool-size=64M \
    --innodb-lock-wait-timeout=900 --pid-file=/run/mysqld/mysqld.pid \
    --log-error=/var/log/mysql/mariadbd.log </dev/null >/dev/null 2>&1 &
  poll 60 mariadb db_up
  remember mariadbd /run/mysqld/mysqld.pid mariadbd
fi
pw=$(sed -n 's/^StoragePass=//p' $DBD 2>/dev/null || true)
[[ -n $pw ]] || pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pw';
  ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pw'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
dbd="AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurm/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$pw
StorageLoc=slurm_acct_db"
[[ "$(cat $DBD 2>/dev/null)" == "$dbd" ]] || printf '%s\n' "$dbd" >$DBD
chown slurm:slurm $DBD && chmod 600 $DBD  # slurmdbd refuses a config others can read
if ! running slurmdbd && ! pidfile_alive /run/slurm/slurmdbd.pid slurmdbd; then
  /usr/sbin/slurmdbd
  remember slurmdbd /run/slurm/slurmdbd.pid slurmdbd
  poll 30 slurmdbd sacctmgr -n list cluster
fi
sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null

# controller and node daemon
if running slurmctld || pidfile_alive /run/slurm/slurmctld.pid slurmctld; then
  ((changed)) && scontrol reconfigure
else
  /usr/sbin/slurmctld
  remember slurmctld /run/slurm/slurmctld.pid slurmctld
fi
poll 30 "the controller" bash -c 'scontrol ping | grep -q UP'
if ! running slurmd && ! pidfile_alive /run/slurm/slurmd.pid slurmd; then
  /usr/sbin/slurmd
  remember slurmd /run/slurm/slurmd.pid slurmd
fi

# wait until the node takes jobs; a drained node (left by an earlier bad config) is resumed once
end=$((SECONDS + WAIT_S)); resumed=0
while :; do
  state=$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -n 1)
  [[ $state =~ ^(idle|mix|alloc|comp)$ ]] && break
  [[ $state == inval ]] && fail "node $NODE rejected its configuration: $(sinfo -h -R -o %E)"
  if [[ $state =~ ^(drain|drng|down)$ ]] && ((!resumed)); then
    scontrol update NodeName="$NODE" State=RESUME || true; resumed=1
  fi
  ((SECONDS < end)) || fail "node $NODE is '$state' after $WAIT_S s"
  sleep 0.5
done
say "ready: partition $PARTITION on $NODE ($state); stop with scripts/slurm-stop.sh"
