/**
 * @file version.h
 * @brief Compile-time and run-time version of libevpipe.
 */
#ifndef EVPIPE_VERSION_H
#define EVPIPE_VERSION_H

#include "common.h"

/* CMakeLists.txt reads the three #define lines: keep their form. */
/** Major version: changes when the API or ABI changes incompatibly (0: unstable). */
#define EVP_VERSION_MAJOR 0
/** Minor version: new features, compatible. */
#define EVP_VERSION_MINOR 2
/** Patch version: fixes only. */
#define EVP_VERSION_PATCH 0

/** The version as one integer, 0x00MMmmpp, comparable with < and >. */
#define EVP_VERSION ((EVP_VERSION_MAJOR << 16) | (EVP_VERSION_MINOR << 8) | EVP_VERSION_PATCH)

#define EVP__STR2(x) #x
#define EVP__STR(x) EVP__STR2(x)
/** The version as a string, "MAJOR.MINOR.PATCH". */
#define EVP_VERSION_STR \
  EVP__STR(EVP_VERSION_MAJOR) "." EVP__STR(EVP_VERSION_MINOR) "." EVP__STR(EVP_VERSION_PATCH)

EVP_BEGIN_DECLS

/**
 * The version of the library actually loaded.
 * @return the version in the EVP_VERSION form (0x00MMmmpp); compare it with
 *         EVP_VERSION to detect a header/library mismatch.
 * Thread-safety: safe from any thread.
 */
EVP_API int evp_version(void);

/**
 * The loaded library's version as text.
 * @return "MAJOR.MINOR.PATCH". Ownership: static storage; do not free.
 * Thread-safety: safe from any thread.
 */
EVP_API const char *evp_version_str(void);

EVP_END_DECLS

#endif /* EVPIPE_VERSION_H */
