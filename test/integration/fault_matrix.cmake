# Fault matrix: every dependency of the exporter (Connect REST, the MySQL
# source, Kafka) under every fault (down/blackhole, reset, delay, flapping),
# checking that /metrics keeps answering, the affected probe reports the
# failure, the others stay green, and the exporter recovers without leaking
# threads or file descriptors. Results: docs/reliability.md. Included from
# test/integration/CMakeLists.txt, after sandbox_fixture.cmake. Faults the
# one shared sandbox, so it runs serially and heals what it broke.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_test(fault_matrix_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_matrix_test.cc
  TIMEOUT 120
  RUN_SERIAL
  EXPORTER
  DEFINITIONS CDC_FAULT_PROXY_BIN="$<TARGET_FILE:cdc-fault-proxy>")
