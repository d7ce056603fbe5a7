# The sandbox (test/sandbox/up .. down) as a CTest fixture named `sandbox`:
# tests with `FIXTURES_REQUIRED sandbox` run after sandbox_up and before
# sandbox_down. Included from test/integration/CMakeLists.txt.
#
# The fixture's sandbox lives in ${CDC_SANDBOX_TEST_DIR}; tests find its env
# file through the CDC_SANDBOX_DIR environment variable (see sandbox_env.h).

get_filename_component(CDC_SANDBOX_SCRIPTS_DIR
  "${CMAKE_CURRENT_LIST_DIR}/../sandbox" ABSOLUTE)
set(CDC_SANDBOX_TEST_DIR "${CMAKE_BINARY_DIR}/sandbox-test")

# Binaries built by this project are handed to up explicitly; anything else
# up finds (or builds) in CDC_BUILD_DIR.
set(_cdc_sandbox_env
  "CDC_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}")
foreach(_pair IN ITEMS "cdc-fault-proxy|CDC_FAULT_PROXY_BIN"
                       "cdc-kafka-broker|CDC_KAFKA_BROKER_BIN"
                       "cdc-sim|CDC_SIM_BIN")
  string(REPLACE "|" ";" _pair "${_pair}")
  list(GET _pair 0 _target)
  list(GET _pair 1 _var)
  if(TARGET ${_target})
    list(APPEND _cdc_sandbox_env "${_var}=$<TARGET_FILE:${_target}>")
  endif()
endforeach()

# --fresh: a sandbox left over from an interrupted run is stopped and wiped.
add_test(NAME sandbox_up COMMAND ${CDC_SANDBOX_SCRIPTS_DIR}/up --fresh)
set_tests_properties(sandbox_up PROPERTIES
  FIXTURES_SETUP sandbox
  ENVIRONMENT "${_cdc_sandbox_env}"
  TIMEOUT 300
  LABELS integration)

add_test(NAME sandbox_down COMMAND ${CDC_SANDBOX_SCRIPTS_DIR}/down)
set_tests_properties(sandbox_down PROPERTIES
  FIXTURES_CLEANUP sandbox
  ENVIRONMENT "${_cdc_sandbox_env}"
  TIMEOUT 120
  LABELS integration)
