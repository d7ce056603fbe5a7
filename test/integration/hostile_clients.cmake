# Hostile clients against the exporter binary (issue #19): header floods,
# slowloris, 1,000 silent connections, silent TLS connections, a
# wrong-password flood, each while a scraper times every answer. Needs no
# sandbox (openssl CLI for a certificate). CDC_HOSTILE_SECONDS (default 10)
# sets each attack's length; the long forms are bench/hostile_clients.py.
# Included from test/integration/CMakeLists.txt. About 90 s.

add_executable(hostile_clients_test
  ${CMAKE_CURRENT_LIST_DIR}/hostile_clients_test.cc)
target_link_libraries(hostile_clients_test PRIVATE
  GTest::gtest_main PkgConfig::HTTPLIB nlohmann_json::nlohmann_json crypt)
target_compile_definitions(hostile_clients_test PRIVATE
  CDC_BINARY_DIR="${PROJECT_BINARY_DIR}")
add_dependencies(hostile_clients_test cdc-sentinel)
gtest_discover_tests(hostile_clients_test
  PROPERTIES
    LABELS integration
    TIMEOUT 120
  DISCOVERY_TIMEOUT 30)
