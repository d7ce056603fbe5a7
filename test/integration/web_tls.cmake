# The exporter's own endpoints over TLS with basic auth (--web.config.file),
# checked with real clients (cpp-httplib, curl, openssl s_client), and the
# planted-secrets test. Needs no sandbox: it makes its certificates with the
# openssl CLI and starts its own MariaDB (Debian's mariadbd) when present.
# Included from test/integration/CMakeLists.txt. About 30 s.

find_package(OpenSSL REQUIRED)
add_executable(web_tls_test ${CMAKE_CURRENT_LIST_DIR}/web_tls_test.cc)
target_link_libraries(web_tls_test PRIVATE
  GTest::gtest_main PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
  OpenSSL::SSL OpenSSL::Crypto crypt)
target_compile_definitions(web_tls_test PRIVATE
  CDC_BINARY_DIR="${PROJECT_BINARY_DIR}")
add_dependencies(web_tls_test cdc-sentinel)
gtest_discover_tests(web_tls_test
  PROPERTIES
    LABELS integration
    TIMEOUT 180
  DISCOVERY_TIMEOUT 30)
