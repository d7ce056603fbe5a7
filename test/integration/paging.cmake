# Paging end to end: the exporter on the sandbox, Debian's Prometheus with the
# repository's alert rules, Debian's Alertmanager and an in-process webhook;
# a silent stall must page (CdcSilentFailure) for the stalled connector only,
# within a derived bound, and resolve after healing (docs/alerting-e2e.md).
# Also renders the status page in headless Chromium (screenshot kept in
# ${PROJECT_BINARY_DIR}/artifacts). Included from
# test/integration/CMakeLists.txt, after sandbox_fixture.cmake. Dominated by
# the rule's `for: 1m`: about 2 minutes.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_test(paging_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/paging_test.cc
  TIMEOUT 900
  RUN_SERIAL
  EXPORTER)
