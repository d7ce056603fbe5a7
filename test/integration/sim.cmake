# Integration tests of cdc-sim (test/sandbox/sim), the simulated Kafka
# Connect worker + Debezium MySQL connectors. They run against the sandbox
# started by the `sandbox` fixture (test/sandbox/up) and, for the on_reset=fail
# case, start a second cdc-sim and their own cdc-fault-proxy. Included from
# test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim)
  # Pure parts (config, row decoding, encodings, REST shapes): no sandbox.
  add_executable(sim_unit_test
    ${CMAKE_CURRENT_LIST_DIR}/../sandbox/sim/sim_unit_test.cc)
  target_link_libraries(sim_unit_test PRIVATE cdc_sim_lib GTest::gtest_main)
  gtest_discover_tests(sim_unit_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)
endif()

cdc_sandbox_test(sim_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc
  TIMEOUT 120
  REQUIRES cdc-sim
  LIBRARIES cdc::common PkgConfig::RDKAFKA PkgConfig::MYSQL Threads::Threads
  DEFINITIONS CDC_SIM_BIN="$<TARGET_FILE:cdc-sim>"
              CDC_SANDBOX_SCRIPTS="${CDC_SANDBOX_SCRIPTS_DIR}")
if(TARGET sim_test AND TARGET cdc-fault-proxy)
  target_compile_definitions(sim_test PRIVATE
    CDC_FAULT_PROXY_BIN="$<TARGET_FILE:cdc-fault-proxy>")
  add_dependencies(sim_test cdc-fault-proxy)
endif()
