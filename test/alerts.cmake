# Prometheus alerting rules: promtool check + unit tests + conventions (test/alerts_test.sh).
add_test(NAME alerts_rules COMMAND ${PROJECT_SOURCE_DIR}/test/alerts_test.sh WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(alerts_rules PROPERTIES LABELS unit)
