# Paging end to end: the exporter on the sandbox, Debian's Prometheus with the
# repository's alert rules, Debian's Alertmanager and an in-process webhook;
# a silent stall must page (CdcSilentFailure) for the stalled connector only,
# within a derived bound, and resolve after healing (docs/alerting-e2e.md).
# Also renders the status page in headless Chromium (screenshot kept in
# ${PROJECT_BINARY_DIR}/artifacts). Included from
# test/integration/CMakeLists.txt, after sandbox_fixture.cmake. Dominated by
# the rule's `for: 1m`: about 2 minutes.

if(NOT DEFINED CDC_SANDBOX_TEST_DIR)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim AND TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker)
  add_executable(paging_test ${CMAKE_CURRENT_LIST_DIR}/paging_test.cc)
  target_include_directories(paging_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(paging_test PRIVATE
    GTest::gtest_main PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
  target_compile_definitions(paging_test PRIVATE
    CDC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    CDC_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_dependencies(paging_test cdc-sentinel cdc-sim cdc-fault-proxy cdc-kafka-broker)
  gtest_discover_tests(paging_test
    PROPERTIES
      FIXTURES_REQUIRED sandbox
      LABELS integration
      RUN_SERIAL TRUE
      ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
      TIMEOUT 300
    DISCOVERY_TIMEOUT 30)
else()
  message(STATUS "paging_test not built: needs CDC_BUILD_SANDBOX=ON")
endif()
