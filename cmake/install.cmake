# Install layout (included by the top-level CMakeLists.txt; the exporter's own CMakeLists installs
# the binary to bin/):
#
#   <prefix>/bin/cdc-sentinel
#   <prefix>/share/cdc-sentinel/examples/*.yaml            config/examples/
#   <prefix>/share/cdc-sentinel/dashboards/*.json          dashboards/
#   <prefix>/share/cdc-sentinel/dashboards/provisioning/   dashboards/provisioning/*.yaml
#   <prefix>/share/cdc-sentinel/alerts/*.yml               alerts/
#   <prefix>/share/doc/cdc-sentinel/                       README.md, docs/*.md
#   <prefix>/lib/systemd/system/cdc-sentinel.service       deploy/systemd/, ExecStart rewritten
#                                                          to <prefix>/bin/cdc-sentinel
#
# `cmake --install BUILD --prefix DIR` honours DIR everywhere, the unit's ExecStart included.
# test/install_test.sh checks this layout.
include(GNUInstallDirs)

set(CDC_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit is installed (relative to the prefix, or absolute)")

set(_cdc_share "${CMAKE_INSTALL_DATADIR}/cdc-sentinel")

file(GLOB _cdc_examples CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/config/examples/*.yaml")
install(FILES ${_cdc_examples} DESTINATION "${_cdc_share}/examples")

file(GLOB _cdc_dashboards CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/dashboards/*.json")
install(FILES ${_cdc_dashboards} "${PROJECT_SOURCE_DIR}/dashboards/README.md"
        DESTINATION "${_cdc_share}/dashboards")
file(GLOB _cdc_provisioning CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/dashboards/provisioning/*.yaml")
install(FILES ${_cdc_provisioning} DESTINATION "${_cdc_share}/dashboards/provisioning")

file(GLOB _cdc_alerts CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/alerts/*.yml")
install(FILES ${_cdc_alerts} "${PROJECT_SOURCE_DIR}/alerts/README.md"
        DESTINATION "${_cdc_share}/alerts")

file(GLOB _cdc_docs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md")
install(FILES "${PROJECT_SOURCE_DIR}/README.md" ${_cdc_docs} DESTINATION "${CMAKE_INSTALL_DOCDIR}")

# The unit's ExecStart names the binary (installed to bin/ by exporter/CMakeLists.txt). Rewrite it
# at install time so that it follows the prefix given to `cmake --install --prefix`
# (\${CMAKE_INSTALL_PREFIX} inside install(CODE) is evaluated then, not at configure time).
set(_cdc_unit_src "${PROJECT_SOURCE_DIR}/deploy/systemd/cdc-sentinel.service")
set(_cdc_unit_out "${PROJECT_BINARY_DIR}/deploy/systemd/cdc-sentinel.service")
install(CODE "
  file(READ \"${_cdc_unit_src}\" _unit)
  string(REPLACE \"ExecStart=/usr/local/bin/cdc-sentinel \"
                 \"ExecStart=\${CMAKE_INSTALL_PREFIX}/bin/cdc-sentinel \" _unit \"\${_unit}\")
  file(WRITE \"${_cdc_unit_out}\" \"\${_unit}\")
")
install(FILES "${_cdc_unit_out}" DESTINATION "${CDC_SYSTEMD_UNITDIR}")
