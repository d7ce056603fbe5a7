# The container image built from the Dockerfile with Debian's Docker engine (scripts/image.sh)
# and run against the sandbox (test/image_test.py): non-root, read-only root, its HEALTHCHECK,
# both connectors judged, a blackholed connector judged stalled, SIGTERM. Needs root (dockerd);
# about 6 minutes (debootstrap ~90 s, the image build ~3.5 min). Included from
# test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

if(TARGET cdc-sim AND TARGET cdc-fault-proxy AND TARGET cdc-kafka-broker)
  add_test(NAME container_image
    COMMAND python3 ${PROJECT_SOURCE_DIR}/test/image_test.py
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(container_image PROPERTIES
    FIXTURES_REQUIRED sandbox
    RUN_SERIAL TRUE
    ENVIRONMENT "CDC_SANDBOX_DIR=${CDC_SANDBOX_TEST_DIR}"
    TIMEOUT 1800
    LABELS "integration;image")
endif()
