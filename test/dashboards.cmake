# Static checks of the Grafana dashboards in dashboards/ (JSON, uids, variables, datasource,
# queries against the metric names of docs/metrics.md). python3, standard library only.
# The live mode (--prometheus URL) runs in the end-to-end test, not here.
add_test(NAME dashboards_structure
  COMMAND python3 ${PROJECT_SOURCE_DIR}/test/dashboards_test.py
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(dashboards_structure PROPERTIES LABELS unit)
