# fuzz_smoke: each libFuzzer target once over its committed seed corpus
# (-runs=0: a regression run, no fuzzing; a few seconds). Registered only
# when the fuzzers are built (-DCDC_FUZZ=ON with clang, see fuzz/CMakeLists.txt).
# Included from test/CMakeLists.txt.

if(TARGET connect_status_fuzzer AND TARGET records_fuzzer AND
   TARGET config_fuzzer AND TARGET web_config_fuzzer)
  add_test(NAME fuzz_smoke
    COMMAND ${PROJECT_SOURCE_DIR}/fuzz/run.sh --regress
            $<TARGET_FILE_DIR:connect_status_fuzzer>)
  set_tests_properties(fuzz_smoke PROPERTIES LABELS fuzz TIMEOUT 300)
endif()
