# Tests of the sandbox infrastructure itself (fault proxy, Kafka mock broker,
# MariaDB set-up, up/down). Included from test/integration/CMakeLists.txt,
# after sandbox_fixture.cmake.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_test(sandbox_infra_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sandbox_infra_test.cc
  TIMEOUT 120
  REQUIRES cdc-fault-proxy cdc-kafka-broker
  LIBRARIES cdc::common PkgConfig::MYSQL PkgConfig::RDKAFKA Threads::Threads
  DEFINITIONS
    CDC_FAULT_PROXY_BIN="$<TARGET_FILE:cdc-fault-proxy>"
    CDC_KAFKA_BROKER_BIN="$<TARGET_FILE:cdc-kafka-broker>"
    CDC_SANDBOX_SCRIPTS="${CDC_SANDBOX_SCRIPTS_DIR}"
    CDC_SANDBOX_LIFECYCLE_DIR="${CMAKE_BINARY_DIR}/sandbox-lifecycle"
    CDC_BUILD_DIR_FOR_TESTS="${CMAKE_BINARY_DIR}")
