# Fault matrix: every dependency of the exporter (Connect REST, the MySQL
# source, Kafka) under every fault (down/blackhole, reset, delay, flapping;
# Kafka also at the TCP level, the exporter's or the connectors' path),
# checking that /metrics keeps answering, the affected probe reports the
# failure, the others stay green, and the exporter recovers without leaking
# threads or file descriptors. Results: docs/reliability.md. Included from
# test/integration/CMakeLists.txt, after sandbox_fixture.cmake. Faults the
# one shared sandbox, so it runs serially and heals what it broke.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

# TIMEOUT is per test (gtest_discover_tests): KafkaTcp, the longest, takes
# ~3 min at the default holds (six cases, three of them waiting out the
# 30 s unknown grace after the exporter's Kafka view comes back). Longer
# holds ($CDC_FAULT_MATRIX_HOLD_S, docs/reliability.md) need the binary run
# directly or a larger CDC_FAULT_MATRIX_TIMEOUT.
set(CDC_FAULT_MATRIX_TIMEOUT 420 CACHE STRING
  "CTest timeout (s) of each FaultMatrixTest test")
cdc_sandbox_test(fault_matrix_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_matrix_test.cc
  TIMEOUT ${CDC_FAULT_MATRIX_TIMEOUT}
  RUN_SERIAL
  EXPORTER
  DEFINITIONS CDC_FAULT_PROXY_BIN="$<TARGET_FILE:cdc-fault-proxy>")
