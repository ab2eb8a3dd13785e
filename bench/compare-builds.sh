#!/bin/sh
# compare-builds.sh: two builds of hmm.jar measured at the same time, each pinned to its own core, the cores swapped
# every round. On a shared or frequency-scaled machine (a cloud VM) the speed of a core drifts by 2x within minutes,
# so two builds measured one after the other are compared across different machine states; measured side by side,
# both see the same state, and swapping the cores cancels the difference between the two cores.
#
#   bench/compare-builds.sh [-r ROUNDS] [-o DIR] OLD.jar NEW.jar bench SUITE [bench options]
#
#   -r ROUNDS  rounds (default 4; even, so that each build runs as often on each core)
#   -o DIR     where each round's JSON goes (default: a new temporary folder): DIR/old-N.json, DIR/new-N.json
# Example (the device-fault figures of docs/benchmarks.md):
#   git worktree add /tmp/old <commit> && (cd /tmp/old && ./mvnw -q -DskipTests package)
#   ./mvnw -q -DskipTests package
#   bench/compare-builds.sh /tmp/old/bench/target/hmm.jar bench/target/hmm.jar bench faults --seconds 2 --warmup 3
# Needs two CPUs and taskset (util-linux). Each build's table is printed per round; compare the ratio columns.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/.mvn/jdk25.sh"
hmm_use_jdk25 || exit 2

usage() {
  echo "compare-builds.sh: $1; usage: bench/compare-builds.sh [-r ROUNDS] [-o DIR] OLD.jar NEW.jar bench SUITE [options]" >&2
  exit 2
}
rounds=4
out=""
while getopts "r:o:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    o) out=$OPTARG ;;
    *) usage "unknown option" ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || usage "expected OLD.jar NEW.jar and a bench command"
old=$1
new=$2
shift 2
case $rounds in
  ''|*[!0-9]*) usage "-r: expected a positive whole number of rounds, got '$rounds'" ;;
esac
[ "$rounds" -ge 1 ] || usage "-r: expected a positive whole number of rounds, got '$rounds'"
[ -f "$old" ] || usage "OLD.jar: no such file: $old"
[ -f "$new" ] || usage "NEW.jar: no such file: $new"
[ "$1" = "bench" ] || usage "expected a bench command after the jars (bench faults|replay|migrate ...), got '$1'"
command -v taskset >/dev/null 2>&1 || usage "taskset not found (util-linux): it pins each build to its core"
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
[ "$cpus" -ge 2 ] || usage "needs two CPUs to run both builds at once, found $cpus"
if [ -z "$out" ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/compare-builds.XXXXXX")
fi
mkdir -p "$out"

java="$JAVA_HOME/bin/java --sun-misc-unsafe-memory-access=allow --enable-native-access=ALL-UNNAMED ${HMM_JAVA_OPTS:-}"
i=1
while [ "$i" -le "$rounds" ]; do
  if [ $((i % 2)) -eq 1 ]; then cold=0; cnew=1; else cold=1; cnew=0; fi
  # shellcheck disable=SC2086
  taskset -c "$cold" $java -jar "$old" "$@" --json "$out/old-$i.json" > "$out/old-$i.txt" 2>&1 &
  pid=$!
  # shellcheck disable=SC2086
  taskset -c "$cnew" $java -jar "$new" "$@" --json "$out/new-$i.json" > "$out/new-$i.txt" 2>&1 || {
    echo "compare-builds.sh: NEW.jar failed in round $i: $(tail -n 1 "$out/new-$i.txt")" >&2
    wait "$pid" || true
    exit 1
  }
  wait "$pid" || { echo "compare-builds.sh: OLD.jar failed in round $i: $(tail -n 1 "$out/old-$i.txt")" >&2; exit 1; }
  echo "--- round $i, old on cpu $cold"
  grep -v -e '^WARNING' -e '^results written' "$out/old-$i.txt"
  echo "--- round $i, new on cpu $cnew"
  grep -v -e '^WARNING' -e '^results written' "$out/new-$i.txt"
  i=$((i + 1))
done
echo "JSON of every round: $out"
