# Three Kafka brokers (test/kafka_brokers_e2e_test.py, issue #16): a sandbox
# of its own with CDC_SANDBOX_KAFKA_BROKERS=3, where partition leaders move,
# a broker dies with and without fail-over, and a blackholed binlog must
# still be judged stalled. Figures: docs/reliability.md. About 2.5 minutes.
# Included from test/integration/CMakeLists.txt.

if(NOT COMMAND cdc_sandbox_test)
  include(${CMAKE_CURRENT_LIST_DIR}/sandbox_fixture.cmake)
endif()

cdc_sandbox_script_test(kafka_brokers_e2e
  SCRIPT test/kafka_brokers_e2e_test.py EXPORTER TIMEOUT 600)
