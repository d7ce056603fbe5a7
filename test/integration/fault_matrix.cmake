# Fault matrix: every dependency of the exporter (Connect REST, the MySQL
# source, Kafka) under every fault (down/blackhole, reset, delay, flapping),
# checking that /metrics keeps answering, the affected probe reports the
# failure, the others stay green, and the exporter recovers without leaking
# threads or file descriptors. Results: docs/reliability.md. Included from
# test/integration/CMakeLists.txt, after sandbox_fixture.cmake. Faults the
# one shared sandbox, so it runs serially and heals what it broke.

if(NOT DEFINED CDC_SANDBOX_TEST_DIR)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim AND TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker)
  add_executable(fault_matrix_test ${CMAKE_CURRENT_LIST_DIR}/fault_matrix_test.cc)
  target_include_directories(fault_matrix_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(fault_matrix_test PRIVATE
    GTest::gtest_main PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
  target_compile_definitions(fault_matrix_test PRIVATE
    CDC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    CDC_BINARY_DIR="${PROJECT_BINARY_DIR}"
    CDC_FAULT_PROXY_BIN="$<TARGET_FILE:cdc-fault-proxy>")
  add_dependencies(fault_matrix_test cdc-sentinel cdc-sim cdc-fault-proxy cdc-kafka-broker)
  gtest_discover_tests(fault_matrix_test
    PROPERTIES
      FIXTURES_REQUIRED sandbox
      LABELS integration
      RUN_SERIAL TRUE
      ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
      TIMEOUT 120
    DISCOVERY_TIMEOUT 30)
else()
  message(STATUS "fault_matrix_test not built: needs CDC_BUILD_SANDBOX=ON")
endif()
