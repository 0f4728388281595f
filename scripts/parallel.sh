#!/usr/bin/env bash
# parallel.sh JOBS STEP COMMAND MODULE... runs COMMAND (a shell command) in each
# module directory, at most JOBS at a time, and prints each module's output
# under a header once it is done, so that the log reads as if they ran one after
# another. It exits non-zero if any module failed, after all have finished, and
# names the failed ones.
set -uo pipefail
jobs=$1 step=$2 cmd=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

declare -A pids=() index=()
failed=()
finish() { # finish PID: print the module's output and record its status
	local pid=$1 m=${pids[$1]} i=${index[$1]} rc=0
	wait "$pid" || rc=$?
	printf '\n==> %s: %s (%ss)\n' "$step" "$m" "$(cat "$out/$i.time" 2>/dev/null || echo '?')"
	cat "$out/$i.log"
	if [ "$rc" -ne 0 ]; then
		printf '\nFAILED: %s in module %s\n' "$step" "$m" >&2
		failed+=("$m")
	fi
	unset "pids[$pid]" "index[$pid]"
}
i=0
for m in "$@"; do
	while [ "${#pids[@]}" -ge "$jobs" ]; do
		wait -n -p done_pid || true
		finish "$done_pid"
	done
	i=$((i + 1))
	(
		start=$(date +%s)
		cd "$root/$m" && bash -c "$cmd"
		rc=$?
		echo $(($(date +%s) - start)) > "$out/$i.time"
		exit $rc
	) > "$out/$i.log" 2>&1 &
	pids[$!]=$m
	index[$!]=$i
done
while [ "${#pids[@]}" -gt 0 ]; do
	wait -n -p done_pid || true
	finish "$done_pid"
done
if [ "${#failed[@]}" -gt 0 ]; then
	printf '\nFAILED: %s in %s\n' "$step" "${failed[*]}" >&2
	exit 1
fi
