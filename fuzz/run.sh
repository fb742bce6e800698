#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 10s).
# CI runs it for a few seconds a target; longer runs are by hand:
#   FUZZTIME=10m fuzz/run.sh          (or make fuzz-long FUZZTIME=10m)
# Optional:
#   FUZZCORPUS=1   keep the generated corpus under <pkg>/testdata/fuzzcache/<Target>
#                  (reused by the next run; git-ignored: crashers still land in
#                  <pkg>/testdata/fuzz/<Target>, which is committed with the fix)
#   FUZZPARALLEL=N fuzz workers per target (default GOMAXPROCS)
#   FUZZKEEPGOING=1 run every target even after one fails; the script still
#                  exits 1 if any did, after a summary with the time per target
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
failed=()
summary=()
while read -r file; do
	pkg=$(dirname "$file")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		echo "== $target ($pkg)"
		args=(-run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime")
		if [ -n "${FUZZPARALLEL:-}" ]; then args+=(-parallel "$FUZZPARALLEL"); fi
		extra=()
		if [ "${FUZZCORPUS:-}" = 1 ]; then extra=(-test.fuzzcachedir="$PWD/$pkg/testdata/fuzzcache"); fi
		start=$(date +%s)
		status=ok
		log=$(mktemp)
		ran=0
		if go test "${args[@]}" "$pkg" "${extra[@]}" 2>&1 | tee "$log"; then ran=1; fi
		# Go's fuzzing engine sometimes fails a short run with a bare
		# "context deadline exceeded" when the time runs out while a worker
		# is busy: no input failed. Such a run is tried once more; a real
		# failure writes its input and fails again.
		if [ $ran = 0 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "== $target: the engine timed out without a failing input; running it again"
			if go test "${args[@]}" "$pkg" "${extra[@]}"; then ran=1; fi
		fi
		rm -f "$log"
		if [ $ran = 0 ]; then
			status=FAIL
			failed+=("$target ($pkg)")
			if [ "${FUZZKEEPGOING:-}" != 1 ]; then exit 1; fi
		fi
		corpus=""
		if [ "${FUZZCORPUS:-}" = 1 ] && [ -d "$pkg/testdata/fuzzcache/$target" ]; then
			corpus=" corpus=$(find "$pkg/testdata/fuzzcache/$target" -type f | wc -l)"
		fi
		summary+=("$status $target ($pkg) $(( $(date +%s) - start ))s$corpus")
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./bench/' | sort)
printf '%s\n' "== summary (FUZZTIME=$fuzztime)" "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failed[@]}"
	exit 1
fi
