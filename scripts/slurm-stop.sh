#!/usr/bin/env bash
# Stop exactly the daemons scripts/slurm-start.sh started (its PID records, checked against the
# program name so a reused PID is never signalled); daemons it found running are left alone.
# Jobs still queued or running are cancelled first so none outlives slurmd.
set -uo pipefail
OWN=/run/simclr-slurm
say() { echo "[slurm-stop] $*"; }
[[ -d $OWN ]] || { say "nothing was started by slurm-start.sh"; exit 0; }
alive() { [[ "$(cat /proc/"$1"/comm 2>/dev/null)" == "$2" ]]; }

if [[ -f $OWN/slurmctld.pid ]] && alive "$(<$OWN/slurmctld.pid)" slurmctld; then
  mapfile -t jobs < <(squeue -h -o %A 2>/dev/null | sort -u)
  if ((${#jobs[@]})); then
    scancel "${jobs[@]}" || true
    end=$((SECONDS + 30))
    while [[ -n $(squeue -h -o %A 2>/dev/null) ]] && ((SECONDS < end)); do sleep 0.5; done
  fi
fi

rc=0
for name in slurmd slurmctld slurmdbd mariadbd munged; do  # reverse order of start
  [[ -f $OWN/$name.pid ]] || continue
  pid=$(<$OWN/$name.pid); prog=$(<$OWN/$name.comm)
  if alive "$pid" "$prog"; then
    kill -TERM "$pid"
    end=$((SECONDS + 30))
    while alive "$pid" "$prog" && ((SECONDS < end)); do sleep 0.2; done
    alive "$pid" "$prog" && { kill -KILL "$pid"; sleep 0.5; }
  fi
  if alive "$pid" "$prog"; then say "$name (pid $pid) is still running"; rc=1
  else say "stopped $name (pid $pid)"; rm -f "$OWN/$name.pid" "$OWN/$name.comm"; fi
done
exit $rc
