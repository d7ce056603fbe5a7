# End-to-end tests of the exporter against the sandbox (cdc-sim through fault
# proxies). Included from test/integration/CMakeLists.txt, after
# sandbox_fixture.cmake. The tests inject faults into the one shared sandbox,
# so they run serially and each heals what it broke.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_test(e2e_probes_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/e2e_probes_test.cc
  TIMEOUT 120
  RUN_SERIAL
  EXPORTER
  LIBRARIES cdc::probes)
