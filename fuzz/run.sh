#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 10s).
# CI runs it for a few seconds a target; longer runs are by hand:
#   FUZZTIME=10m fuzz/run.sh          (or make fuzz-long FUZZTIME=10m)
# Optional:
#   FUZZCORPUS=1   keep the generated corpus under <pkg>/testdata/fuzzcache/<Target>
#                  (reused by the next run; git-ignored: crashers still land in
#                  <pkg>/testdata/fuzz/<Target>, which is committed with the fix)
#   FUZZPARALLEL=N fuzz workers per target (default GOMAXPROCS)
#   FUZZJOBS=N     run N targets at once (default 1), each with its own
#                  -parallel workers; their output is prefixed with the target
#   FUZZONLY=regex run only the targets whose name matches (grep -E)
#   FUZZLOGDIR=dir keep each target's full output in dir/<pkg>_<Target>.log
#                  (default: a temporary directory, removed at the end)
#   FUZZKEEPGOING=1 run every target even after one fails; the script still
#                  exits 1 if any did, after a summary with the time, the
#                  executions and the new corpus entries per target
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
jobs=${FUZZJOBS:-1}
case "$jobs" in '' | *[!0-9]* | 0)
	echo "FUZZJOBS must be a positive integer, got '$jobs'" >&2
	exit 2
	;;
esac
logdir=${FUZZLOGDIR:-}
keeplogs=1
if [ -z "$logdir" ]; then
	logdir=$(mktemp -d)
	keeplogs=0
fi
mkdir -p "$logdir"
# Each target writes one summary line to $results/<n>; the summary is
# printed in the order the targets were listed.
results=$(mktemp -d)
cleanup() {
	rm -rf "$results"
	if [ $keeplogs = 0 ]; then rm -rf "$logdir"; fi
}
trap cleanup EXIT

# corpus_count prints how many inputs the kept corpus of a target holds.
corpus_count() {
	local dir="$1/testdata/fuzzcache/$2"
	if [ -d "$dir" ]; then find "$dir" -type f | wc -l; else echo 0; fi
}

# fuzz_one runs one target and writes its summary line to $results/$3.
# Its output goes to its log and, prefixed with the target, to stdout.
fuzz_one() {
	local pkg=$1 target=$2 n=$3
	local log="$logdir/$(echo "${pkg#./}" | tr / _)_${target}.log"
	local args=(-run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime")
	if [ -n "${FUZZPARALLEL:-}" ]; then args+=(-parallel "$FUZZPARALLEL"); fi
	local extra=()
	if [ "${FUZZCORPUS:-}" = 1 ]; then extra=(-test.fuzzcachedir="$PWD/$pkg/testdata/fuzzcache"); fi
	local before start status=ok ran=0
	before=$(corpus_count "$pkg" "$target")
	start=$(date +%s)
	: >"$log"
	echo "== $target ($pkg)"
	if go test "${args[@]}" "$pkg" "${extra[@]}" > >(tee -a "$log" | sed -u "s|^|[$target] |") 2>&1; then ran=1; fi
	# Go's fuzzing engine sometimes fails a short run with a bare
	# "context deadline exceeded" when the time runs out while a worker
	# is busy: no input failed. Such a run is tried once more; a real
	# failure writes its input and fails again.
	if [ $ran = 0 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
		echo "== $target: the engine timed out without a failing input; running it again"
		if go test "${args[@]}" "$pkg" "${extra[@]}" > >(tee -a "$log" | sed -u "s|^|[$target] |") 2>&1; then ran=1; fi
	fi
	if [ $ran = 0 ]; then status=FAIL; fi
	# The engine reports its progress as
	#   fuzz: elapsed: 3m0s, execs: 123456 (685/sec), new interesting: 12 (total: 50)
	# the last such line has the totals of the run (the executions of a
	# rerun are added to the first run's).
	local execs interesting
	# A run that ends while the engine still gathers its baseline coverage
	# prints no such line: grep then finds nothing, which is no failure.
	execs=$({ grep -o 'fuzz: elapsed: [^,]*, execs: [0-9]*' "$log" || true; } | awk '
		{ v = $NF + 0; if (v < last) sum += last; last = v } END { print sum + last + 0 }')
	interesting=$({ grep -o 'new interesting: [0-9]*' "$log" || true; } | tail -1 | awk '{ print $NF + 0 }')
	local line="$status $target ($pkg) $(($(date +%s) - start))s execs=${execs:-0} new-interesting=${interesting:-0}"
	if [ "${FUZZCORPUS:-}" = 1 ]; then
		local after
		after=$(corpus_count "$pkg" "$target")
		line+=" corpus=$after (+$((after - before)))"
	fi
	if [ $status = FAIL ]; then
		local input
		input=$(grep -o 'Failing input written to [^ ]*' "$log" | tail -1 | sed 's/^Failing input written to //' || true)
		if [ -n "$input" ]; then line+=" input=$input"; fi
	fi
	echo "$line" >"$results/$n"
	echo "== done: $line"
}

targets=()
while read -r file; do
	pkg=$(dirname "$file")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		if [ -n "${FUZZONLY:-}" ] && ! echo "$target" | grep -qE "$FUZZONLY"; then continue; fi
		targets+=("$pkg $target")
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./bench/' | sort)

anyfailed=0
running=0
n=0
for entry in "${targets[@]}"; do
	read -r pkg target <<<"$entry"
	n=$((n + 1))
	if [ "$jobs" = 1 ]; then
		fuzz_one "$pkg" "$target" "$(printf '%03d' $n)"
		if grep -q '^FAIL' "$results/$(printf '%03d' $n)"; then
			anyfailed=1
			if [ "${FUZZKEEPGOING:-}" != 1 ]; then break; fi
		fi
		continue
	fi
	if [ $running -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
		if [ "${FUZZKEEPGOING:-}" != 1 ] && grep -qs '^FAIL' "$results"/*; then
			anyfailed=1
			break
		fi
	fi
	fuzz_one "$pkg" "$target" "$(printf '%03d' $n)" &
	running=$((running + 1))
done
wait
if grep -qs '^FAIL' "$results"/* 2>/dev/null; then anyfailed=1; fi

printf '%s\n' "== summary (FUZZTIME=$fuzztime FUZZJOBS=$jobs FUZZPARALLEL=${FUZZPARALLEL:-default}; $(cat /proc/loadavg 2>/dev/null | cut -d' ' -f1-3) load)"
cat "$results"/* 2>/dev/null || true
if [ $keeplogs = 1 ]; then echo "== logs in $logdir"; fi
if [ $anyfailed = 1 ]; then
	echo "failed:"
	grep -h '^FAIL' "$results"/* || true
	exit 1
fi
