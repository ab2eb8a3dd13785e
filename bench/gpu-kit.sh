#!/bin/sh
# gpu-kit.sh: packs what a GPU machine without Java or Maven needs to check and measure the CUDA backend, into
# gpu-kit/ at the repository root (ignored by git; about 55 MiB, within the device tool's 64 MiB carry limit):
#   gpu-kit/jre/      a jlink'd Java 25 runtime
#   gpu-kit/lib/      hmm.jar (the CLI and the engine) and the test classes and JUnit jars GpuCheck needs
#   gpu-kit/run.sh    on the GPU machine: CudaDeviceTest on the GPU, a `hmm simulate --backend cuda` workload
#                     checked byte for byte, then `hmm bench migrate|faults|replay --backend cuda`, JSON and logs
#                     into $OUT (or ./gpu-out)
# Usage: bench/gpu-kit.sh, then on the GPU machine, from the repository root: sh gpu-kit/run.sh
# To rehearse on a machine without a GPU, against the fake driver (device-backends' fakecuda.c, compiled):
#   HMM_GPU_CHECK_FLAGS=-Dhmm.cuda.library=/tmp/libfakecuda.so HMM_GPU_CHECK_ARGS=--rehearse \
#   HMM_BENCH_ARGS="--cuda-library /tmp/libfakecuda.so --seconds 0.1" \
#   HMM_SIM_ARGS="--cuda-library /tmp/libfakecuda.so --footprint 64MiB --device-memory 48MiB" sh gpu-kit/run.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/.mvn/jdk25.sh"
hmm_use_jdk25 || exit 2
cd "$here"
./mvnw -q -B install -DskipTests
kit="$here/gpu-kit"
rm -rf "$kit/lib" "$kit/run.sh"
mkdir -p "$kit/lib"
if [ ! -x "$kit/jre/bin/java" ]; then
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.management,jdk.management,jdk.unsupported,java.logging \
    --compress=zip-9 --strip-debug --no-header-files --no-man-pages --output "$kit/jre"
fi
cp bench/target/hmm.jar "$kit/lib/"
cp hmm-engine/target/hmm-engine-*-tests.jar device-backends/target/device-backends-*-tests.jar "$kit/lib/"
./mvnw -q -B org.apache.maven.plugins:maven-dependency-plugin:3.9.0:build-classpath -pl device-backends \
  -Dmdep.includeScope=test -Dmdep.outputFile="$kit/cp.txt"
# JUnit, its launcher and AssertJ; the engine's own jars are in hmm.jar already, byte-buddy is not needed
for jar in $(tr ':' '\n' < "$kit/cp.txt"); do
  case "$(basename "$jar")" in
    junit-*|opentest4j-*|apiguardian-*|assertj-core-*) cp "$jar" "$kit/lib/" ;;
  esac
done
rm -f "$kit/cp.txt"
cat > "$kit/run.sh" <<'RUN'
#!/bin/sh
# On the GPU machine, from the repository root: the CUDA backend's tests on the GPU, then the quick benchmarks.
set -u
kit=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-./gpu-out}
mkdir -p "$out"
java="$kit/jre/bin/java"
flags="--sun-misc-unsafe-memory-access=allow --enable-native-access=ALL-UNNAMED -Xmx8g"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
rc=0
# run NAME COMMAND...: the command's output to the terminal and to $out/NAME.txt; a failure makes the kit fail
run() {
  name=$1
  shift
  "$@" > "$out/$name.txt" 2>&1
  r=$?
  cat "$out/$name.txt"
  [ "$r" -eq 0 ] || { echo "gpu kit: $name exited $r"; rc=1; }
}
run gpu-check "$java" $flags ${HMM_GPU_CHECK_FLAGS:-} -cp "$kit/lib/*" dev.hmm.device.cuda.GpuCheck ${HMM_GPU_CHECK_ARGS:-}
# a workload on the GPU, oversubscribed, every byte checked against a shadow copy at the end (exit 1 if one differs)
# (HMM_SIM_ARGS replaces the sizes)
run simulate "$java" $flags -jar "$kit/lib/hmm.jar" simulate --backend cuda --workload random --cpu-threads 4 \
  --device-threads 4 ${HMM_SIM_ARGS:---footprint 1GiB --device-memory 768MiB} --json "$out/simulate.json"
# the workload's bytes can be right with every copy failed (the pages then stay in RAM): the GPU must have copied
if grep -q '"failedBatches" : [1-9]' "$out/simulate.json" 2>/dev/null; then
  echo "gpu kit: the GPU failed copy batches in the simulation (gpus in $out/simulate.json)"
  rc=1
fi
for suite in migrate faults replay; do
  extra=""
  [ "$suite" = migrate ] && extra="--directions round-trip,to-device,to-ram" # PCIe is not symmetric
  run "bench-$suite" "$java" $flags -jar "$kit/lib/hmm.jar" bench "$suite" --backend cuda $extra \
    ${HMM_BENCH_ARGS:-} --json "$out/bench-$suite.json"
done
exit $rc
RUN
chmod +x "$kit/run.sh"
du -sh "$kit" "$kit/jre" "$kit/lib"
