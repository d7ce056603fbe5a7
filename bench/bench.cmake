# Benchmarks (bench/). Included from the top-level CMakeLists.txt:
#   include(${PROJECT_SOURCE_DIR}/bench/bench.cmake)
# bench_smoke starts its own sandbox and exporter in temporary directories
# (not the `sandbox` fixture), so it runs alone: RUN_SERIAL. ~2 minutes.
#   ctest --test-dir build -L bench --output-on-failure
if(CDC_BUILD_TESTS AND CDC_BUILD_SANDBOX)
  add_test(NAME bench_smoke
           COMMAND ${PROJECT_SOURCE_DIR}/bench/smoke.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(bench_smoke PROPERTIES
    LABELS bench
    RUN_SERIAL TRUE
    TIMEOUT 400)
endif()
