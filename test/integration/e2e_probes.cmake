# End-to-end tests of the exporter against the sandbox (cdc-sim through fault
# proxies). Included from test/integration/CMakeLists.txt, after
# sandbox_fixture.cmake. The tests inject faults into the one shared sandbox,
# so they run serially and each heals what it broke.

if(NOT DEFINED CDC_SANDBOX_TEST_DIR)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim AND TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker)
  add_executable(e2e_probes_test ${CMAKE_CURRENT_LIST_DIR}/e2e_probes_test.cc)
  target_include_directories(e2e_probes_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(e2e_probes_test PRIVATE
    GTest::gtest_main PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
  target_compile_definitions(e2e_probes_test PRIVATE
    CDC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    CDC_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_dependencies(e2e_probes_test cdc-sentinel cdc-sim cdc-fault-proxy cdc-kafka-broker)
  gtest_discover_tests(e2e_probes_test
    PROPERTIES
      FIXTURES_REQUIRED sandbox
      LABELS integration
      RUN_SERIAL TRUE
      ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
      TIMEOUT 120
    DISCOVERY_TIMEOUT 30)
else()
  message(STATUS "e2e_probes_test not built: needs CDC_BUILD_SANDBOX=ON")
endif()
