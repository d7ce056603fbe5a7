# Tests of the sandbox infrastructure itself (fault proxy, Kafka mock broker,
# MariaDB set-up, up/down). Included from test/integration/CMakeLists.txt,
# after sandbox_fixture.cmake.

if(NOT DEFINED CDC_SANDBOX_TEST_DIR)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker)
  add_executable(sandbox_infra_test ${CMAKE_CURRENT_LIST_DIR}/sandbox_infra_test.cc)
  target_include_directories(sandbox_infra_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(sandbox_infra_test PRIVATE
    GTest::gtest_main PkgConfig::HTTPLIB cdc::common PkgConfig::MYSQL PkgConfig::RDKAFKA
    nlohmann_json::nlohmann_json Threads::Threads)
  target_compile_definitions(sandbox_infra_test PRIVATE
    CDC_FAULT_PROXY_BIN="$<TARGET_FILE:cdc-fault-proxy>"
    CDC_KAFKA_BROKER_BIN="$<TARGET_FILE:cdc-kafka-broker>"
    CDC_SANDBOX_SCRIPTS="${CDC_SANDBOX_SCRIPTS_DIR}"
    CDC_SANDBOX_LIFECYCLE_DIR="${CMAKE_BINARY_DIR}/sandbox-lifecycle"
    CDC_BUILD_DIR_FOR_TESTS="${CMAKE_BINARY_DIR}")
  add_dependencies(sandbox_infra_test cdc-fault-proxy cdc-kafka-broker)
  gtest_discover_tests(sandbox_infra_test
    PROPERTIES
      FIXTURES_REQUIRED sandbox
      LABELS integration
      ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
      TIMEOUT 120
    DISCOVERY_TIMEOUT 30)
else()
  message(STATUS "sandbox_infra_test not built: needs CDC_BUILD_SANDBOX=ON")
endif()
