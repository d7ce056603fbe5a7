# Deployment files and install layout (included by the lead from test/CMakeLists.txt).
# deploy_files: Dockerfile, deploy/compose/ and deploy/kubernetes/ against the built binary
#   (ldd/dpkg -S, --config.check), promtool/amtool and each other. python3 + PyYAML.
# install_layout: cmake --install into a temporary prefix, then runs and checks what landed there.
add_test(NAME deploy_files
  COMMAND python3 ${PROJECT_SOURCE_DIR}/test/deploy_test.py $<TARGET_FILE:cdc-sentinel>
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME install_layout
  COMMAND ${PROJECT_SOURCE_DIR}/test/install_test.sh ${PROJECT_BINARY_DIR})
set_tests_properties(deploy_files install_layout PROPERTIES LABELS unit)
set_tests_properties(install_layout PROPERTIES ENVIRONMENT "CMAKE_COMMAND=${CMAKE_COMMAND}")
