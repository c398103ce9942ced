# The lambda-zip target: dist/evpipe-lambda.zip in the source tree, the
# evpipe_bootstrap executable packaged for provided.al2023 (x86_64) with every
# shared library it needs and the dynamic loader bundled, so that it does not
# depend on the build host's glibc (scripts/package-lambda does the work).
# Included by the top-level CMakeLists.txt after evpipe_bootstrap is defined.
set(EVP_LAMBDA_ZIP ${PROJECT_SOURCE_DIR}/dist/evpipe-lambda.zip)
# c: a tiny static C launcher (default); sh: a /bin/sh launcher.
set(EVPIPE_LAMBDA_LAUNCHER "c" CACHE STRING "bootstrap launcher in the Lambda zip: c or sh")
set_property(CACHE EVPIPE_LAMBDA_LAUNCHER PROPERTY STRINGS c sh)
add_custom_command(
  OUTPUT ${EVP_LAMBDA_ZIP}
  COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
          sh ${PROJECT_SOURCE_DIR}/scripts/package-lambda --launcher ${EVPIPE_LAMBDA_LAUNCHER}
          $<TARGET_FILE:evpipe_bootstrap> ${EVP_LAMBDA_ZIP}
  DEPENDS evpipe_bootstrap ${PROJECT_SOURCE_DIR}/scripts/package-lambda
  COMMENT "Packaging the Lambda bootstrap: dist/evpipe-lambda.zip"
  VERBATIM)
add_custom_target(lambda-zip DEPENDS ${EVP_LAMBDA_ZIP})
