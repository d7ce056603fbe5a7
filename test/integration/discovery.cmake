# Discovery on the sandbox (test/discovery_e2e_test.py, issue #15): a
# configuration without connectors[] entries discovers both simulated
# connectors and judges them as the explicit one does; a connector created
# over the simulator's REST API is monitored within one poll and dropped
# within one poll of its deletion; one without the canary table is reported,
# never judged. About 2 minutes. Included from test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_script_test(discovery_e2e SCRIPT test/discovery_e2e_test.py EXPORTER
  TIMEOUT 420)
