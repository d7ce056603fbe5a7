# Integration tests of cdc-sim (test/sandbox/sim), the simulated Kafka
# Connect worker + Debezium MySQL connectors. They run against the sandbox
# started by the `sandbox` fixture (test/sandbox/up) and, for the on_reset=fail
# case, start a second cdc-sim and their own cdc-fault-proxy. Included from
# test/integration/CMakeLists.txt.

if(NOT DEFINED CDC_SANDBOX_TEST_DIR)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim)
  # Pure parts (config, row decoding, encodings, REST shapes): no sandbox.
  add_executable(sim_unit_test
    ${CMAKE_CURRENT_LIST_DIR}/../sandbox/sim/sim_unit_test.cc)
  target_link_libraries(sim_unit_test PRIVATE cdc_sim_lib GTest::gtest_main)
  gtest_discover_tests(sim_unit_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)

  add_executable(sim_test ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc)
  target_include_directories(sim_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(sim_test PRIVATE
    GTest::gtest_main cdc::common PkgConfig::HTTPLIB PkgConfig::RDKAFKA
    PkgConfig::MYSQL nlohmann_json::nlohmann_json Threads::Threads)
  target_compile_definitions(sim_test PRIVATE
    CDC_SIM_BIN="$<TARGET_FILE:cdc-sim>")
  add_dependencies(sim_test cdc-sim)
  if(TARGET cdc-fault-proxy)
    target_compile_definitions(sim_test PRIVATE
      CDC_FAULT_PROXY_BIN="$<TARGET_FILE:cdc-fault-proxy>")
    add_dependencies(sim_test cdc-fault-proxy)
  endif()
  gtest_discover_tests(sim_test
    PROPERTIES
      FIXTURES_REQUIRED sandbox
      LABELS integration
      ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
      TIMEOUT 120
    DISCOVERY_TIMEOUT 30)
else()
  message(STATUS "sim_test not built: needs CDC_BUILD_SANDBOX=ON")
endif()
