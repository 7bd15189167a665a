#!/usr/bin/env bash
# run.sh [ROUNDS]: the small init's benchmark (issue 14), `make bench-bighost`.
# Builds, into a temp dir, bighost (this module: a host program that imports
# k8s.io/client-go, grpc, the Prometheus client and go-plugin; the first
# build downloads them through the module proxy, once), the CLI
# (examples/corral) and corral-init, then, ROUNDS times (default 30) in a
# rotating order so that the machine's drifts hit every case alike:
#   cli          corral run -- /bin/true           (a whole cold run)
#   big          bighost cold 1                    (self re-exec)
#   big+init     bighost cold 1 corral-init        (Options.Init)
#   cli-start, big-start: the same binaries started with no work (usage,
#                exit 2): each host's own start, which the sandbox cannot
#                change, subtracted to give the cold sandbox alone.
# Then the private memory (USS) per idle pooled init of bighost, with and
# without the small init (pool of 8). Prints medians and ratios.
set -euo pipefail
rounds=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
(cd "$here" && go build -o "$dir/bighost" .)
(cd "$root" && go build -o "$dir/corral" ./examples/corral &&
	CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$dir/corral-init" ./sandbox/corral-init)
ls -l "$dir" | awk 'NR>1 {printf "  %-12s %6.1f MiB\n", $9, $5/1048576}'

declare -A cmd=(
	[cli]="$dir/corral run -- /bin/true"
	[big]="$dir/bighost cold 1"
	[big+init]="$dir/bighost cold 1 $dir/corral-init"
	[cli-start]="$dir/corral"
	[big-start]="$dir/bighost"
)
names=(cli big big+init cli-start big-start)
declare -A times
for ((r = 0; r < rounds; r++)); do
	for ((i = 0; i < ${#names[@]}; i++)); do
		n=${names[(i + r) % ${#names[@]}]}
		t0=$EPOCHREALTIME
		${cmd[$n]} >/dev/null 2>&1 || [[ $n == *-start ]] || { echo "run.sh: $n failed" >&2; exit 1; }
		t1=$EPOCHREALTIME
		times[$n]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) * 1000}') "
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
declare -A med
for n in "${names[@]}"; do med[$n]=$(median <<<"${times[$n]}"); done
echo
echo "## Whole commands, median of $rounds interleaved rounds (ms)"
for n in "${names[@]}"; do printf '  %-10s %8.2f   %s\n' "$n" "${med[$n]}" "${cmd[$n]#"$dir/"}"; done
awk -v c="${med[cli]}" -v b="${med[big]}" -v s="${med[big+init]}" -v cs="${med[cli-start]}" -v bs="${med[big-start]}" 'BEGIN {
	printf "\n## Cold sandbox alone (whole command minus the host'\''s own start)\n"
	printf "  CLI                      %7.2f ms\n", c - cs
	printf "  bighost, self re-exec    %7.2f ms  (%.2fx the CLI)\n", b - bs, (b - bs) / (c - cs)
	printf "  bighost, small init      %7.2f ms  (%.2fx the CLI; target <= 1.1)\n", s - bs, (s - bs) / (c - cs)
}'
echo
echo "## Idle pooled sandbox of bighost, private memory (USS) per init, pool of 8"
printf '  self re-exec   %6.2f MiB\n' "$(awk -v k="$("$dir/bighost" pool 8)" 'BEGIN {print k / 1024}')"
printf '  small init     %6.2f MiB  (target <= 2)\n' "$(awk -v k="$("$dir/bighost" pool 8 "$dir/corral-init")" 'BEGIN {print k / 1024}')"
echo "  (the CLI holds no pool; make bench's \"idle pooled sandbox\" line is a small host's self re-exec)"
