# The container image built from the Dockerfile with Debian's Docker engine (scripts/image.sh)
# and run against the sandbox (test/image_test.py): non-root, read-only root, its HEALTHCHECK,
# both connectors judged, a blackholed connector judged stalled, SIGTERM. Needs root (dockerd);
# about 6 minutes (debootstrap ~90 s, the image build ~3.5 min). Included from
# test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_script_test(container_image SCRIPT test/image_test.py TIMEOUT 1800
  LABELS image)
