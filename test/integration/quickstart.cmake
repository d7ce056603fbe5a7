# docs/quickstart.md followed step by step against the sandbox
# (test/quickstart_test.py): its SQL, connector settings, YAML and
# --config.check, the binary's status page, and step 7's iptables rule making
# a connector silent. Needs root, as step 7 does (CI runs as root); about
# 1.5 minutes. Included from test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_script_test(quickstart SCRIPT test/quickstart_test.py EXPORTER TIMEOUT 420)
