# docs/quickstart.md followed step by step against the sandbox
# (test/quickstart_test.py): its SQL, connector settings, YAML and
# --config.check, the binary's status page, and step 7's iptables rule making
# a connector silent. Needs root, as step 7 does (CI runs as root); about
# 1.5 minutes. Included from test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim AND TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker)
  add_test(NAME quickstart
    COMMAND python3 ${PROJECT_SOURCE_DIR}/test/quickstart_test.py
            $<TARGET_FILE:cdc-sentinel>
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(quickstart PROPERTIES
    FIXTURES_REQUIRED sandbox
    RUN_SERIAL TRUE
    ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
    TIMEOUT 420
    LABELS integration)
endif()
