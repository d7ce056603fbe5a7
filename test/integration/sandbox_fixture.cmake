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

# cdc_sandbox_test(<name> SOURCES <file>... TIMEOUT <seconds>
#                  [RUN_SERIAL] [EXPORTER] [REQUIRES <target>...]
#                  [DEPENDS <target>...] [LIBRARIES <lib>...]
#                  [DEFINITIONS <def>...])
#
# An integration test executable that needs the `sandbox` fixture: built with
# gtest, cpp-httplib, nlohmann_json and the LIBRARIES, with this directory
# (sandbox_env.h, test_support.h) on its include path; its tests are labelled
# `integration` and find the sandbox through CDC_SANDBOX_DIR. REQUIRES names
# the sandbox programs it needs: without them (CDC_BUILD_SANDBOX=OFF) it is
# not built. It is built after them and after the DEPENDS targets.
# RUN_SERIAL: its tests fault the one shared sandbox. EXPORTER: it runs the
# cdc-sentinel binary against the whole sandbox (cdc-sim behind the fault
# proxies, the mock broker) and gets CDC_SOURCE_DIR and CDC_BINARY_DIR.
set(CDC_INTEGRATION_TEST_DIR "${CMAKE_CURRENT_LIST_DIR}")
function(cdc_sandbox_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "RUN_SERIAL;EXPORTER" "TIMEOUT"
    "SOURCES;REQUIRES;DEPENDS;LIBRARIES;DEFINITIONS")
  if(arg_EXPORTER)
    list(APPEND arg_REQUIRES cdc-sim cdc-fault-proxy cdc-kafka-broker)
    list(APPEND arg_DEPENDS cdc-sentinel)
    list(APPEND arg_DEFINITIONS
      CDC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
      CDC_BINARY_DIR="${PROJECT_BINARY_DIR}")
  endif()
  foreach(target IN LISTS arg_REQUIRES)
    if(NOT TARGET ${target})
      message(STATUS "${name} not built: needs CDC_BUILD_SANDBOX=ON")
      return()
    endif()
  endforeach()
  add_executable(${name} ${arg_SOURCES})
  target_include_directories(${name} PRIVATE ${CDC_INTEGRATION_TEST_DIR})
  target_link_libraries(${name} PRIVATE
    GTest::gtest_main PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    ${arg_LIBRARIES})
  if(arg_DEFINITIONS)
    target_compile_definitions(${name} PRIVATE ${arg_DEFINITIONS})
  endif()
  if(arg_REQUIRES OR arg_DEPENDS)
    add_dependencies(${name} ${arg_REQUIRES} ${arg_DEPENDS})
  endif()
  set(serial)
  if(arg_RUN_SERIAL)
    set(serial RUN_SERIAL TRUE)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES
      FIXTURES_REQUIRED sandbox
      LABELS integration
      ${serial}
      ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
      TIMEOUT ${arg_TIMEOUT}
    DISCOVERY_TIMEOUT 30)
endfunction()

# cdc_sandbox_script_test(<name> SCRIPT <file.py> TIMEOUT <seconds>
#                         [EXPORTER] [LABELS <label>...])
#
# A Python script run against the whole sandbox (cdc-sim, the fault proxies,
# the mock broker), serially, with CDC_SANDBOX_DIR set; EXPORTER: the
# cdc-sentinel binary is its first argument. Labelled `integration` and the
# LABELS. Not added without the sandbox programs (CDC_BUILD_SANDBOX=OFF).
function(cdc_sandbox_script_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "EXPORTER" "SCRIPT;TIMEOUT" "LABELS")
  if(NOT (TARGET cdc-sim AND TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker))
    return()
  endif()
  set(args "")
  if(arg_EXPORTER)
    set(args "$<TARGET_FILE:cdc-sentinel>")
  endif()
  add_test(NAME ${name}
    COMMAND python3 ${PROJECT_SOURCE_DIR}/${arg_SCRIPT} ${args}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES
    FIXTURES_REQUIRED sandbox
    RUN_SERIAL TRUE
    ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
    TIMEOUT ${arg_TIMEOUT}
    LABELS "integration;${arg_LABELS}")
endfunction()
