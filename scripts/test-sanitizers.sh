#!/usr/bin/env bash
# The instrumented test runs CI does after scripts/test.sh, each in its own
# build directory (test/sanitizers.md):
#
#   asan  everything built with AddressSanitizer + UndefinedBehaviorSanitizer
#         (-DCDC_SANITIZE=ON); the whole suite except the benchmark smoke test,
#         the container image (its binary is built in the image, not here) and
#         the long runs whose code paths the rest already covers (the
#         no-page paging cases, the quickstart, discovery_e2e, the
#         three-broker kafka_brokers_e2e): CI time
#   tsan  everything built with ThreadSanitizer (-DCDC_TSAN=ON); the unit
#         tests and the exporter-binary and web TLS integration tests. Not
#         the tests that run a Kafka client (KafkaProbeTest, KafkaWatcherTest and AppDiscoveryTest among the unit
#         tests): Debian's librdkafka is not instrumented and TSan crashes
#         inside itself on its threads
#   fuzz  the libFuzzer targets (clang): replay of the committed corpora,
#         then CDC_FUZZ_SECONDS (default 20) of fuzzing per target
#
#   scripts/test-sanitizers.sh              # all three
#   scripts/test-sanitizers.sh asan fuzz    # some
#
# Build directories: $CDC_BUILD_ROOT/build-{asan,tsan,fuzz} (default: the
# repository). Installs its Debian packages like scripts/test.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${CDC_BUILD_ROOT:-$repo}
jobs=$(nproc 2>/dev/null || echo 2)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(asan tsan fuzz)

"$repo/scripts/deps.sh"

# -O1 -g1 (line tables): what the sanitizers need for useful reports, and
# 5-8x faster to build than -O2 -g with instrumentation on two cores.
configure_build() {  # DIR CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S "$repo" -B "$dir" -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" "$@" >/dev/null
}

for stage in "${stages[@]}"; do
  start=$(date +%s)
  case $stage in
    asan)
      dir=$root/build-asan
      configure_build "$dir" -DCDC_SANITIZE=ON
      cmake --build "$dir" -j"$jobs"
      # halt on the first report; leaks are reports too.
      (cd "$dir" &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure --timeout 900 -LE 'bench|image' \
          -E '^(PagingTest\.LagAndTheExportersOwnBlindnessNeverPage|FaultMatrixTest\.KafkaTcp|quickstart|discovery_e2e|kafka_brokers_e2e)$')
      ;;
    tsan)
      dir=$root/build-tsan
      configure_build "$dir" -DCDC_TSAN=ON -DCDC_BUILD_SANDBOX=OFF
      cmake --build "$dir" -j"$jobs"
      (cd "$dir" &&
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --output-on-failure --timeout 900 -L unit -E '^(KafkaProbeTest|KafkaWatcherTest|AppDiscoveryTest)\.' &&
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --output-on-failure --timeout 900 \
          -R '^(ExporterBinaryTest|WebTlsTest)\.' -E 'PlantedSecretsShowNowhere')
      ;;
    fuzz)
      command -v clang++ >/dev/null || { echo "fuzz: clang++ missing" >&2; exit 2; }
      CDC_FUZZ_BUILD_DIR=$root/build-fuzz "$repo/fuzz/run.sh" "${CDC_FUZZ_SECONDS:-20}"
      (cd "$root/build-fuzz" && ctest --output-on-failure -L fuzz)
      ;;
    *)
      echo "unknown stage $stage (asan, tsan, fuzz)" >&2
      exit 2
      ;;
  esac
  echo "test-sanitizers: $stage passed in $(( $(date +%s) - start )) s"
done
