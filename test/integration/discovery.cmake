# Discovery on the sandbox (test/discovery_e2e_test.py, issue #15): a
# configuration without connectors[] entries discovers both simulated
# connectors and judges them as the explicit one does; a connector created
# over the simulator's REST API is monitored within one poll and dropped
# within one poll of its deletion; one without the canary table is reported,
# never judged. About 2 minutes. Included from test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim AND TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker)
  add_test(NAME discovery_e2e
    COMMAND python3 ${PROJECT_SOURCE_DIR}/test/discovery_e2e_test.py
            $<TARGET_FILE:cdc-sentinel>
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(discovery_e2e PROPERTIES
    FIXTURES_REQUIRED sandbox
    RUN_SERIAL TRUE
    ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
    TIMEOUT 420
    LABELS integration)
endif()
