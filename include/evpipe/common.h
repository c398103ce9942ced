/**
 * @file common.h
 * @brief Export macro, C++ linkage guards and the library's deallocator.
 *
 * Included by every other public header; it compiles on its own.
 */
#ifndef EVPIPE_COMMON_H
#define EVPIPE_COMMON_H

#include <stddef.h>

/* EVP_API marks the public ABI. The library is built with hidden visibility,
 * so anything without EVP_API stays internal to libevpipe.so. */
#if defined(_WIN32)
#  if defined(EVP_BUILDING)
#    define EVP_API __declspec(dllexport)
#  else
#    define EVP_API
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define EVP_API __attribute__((visibility("default")))
#else
#  define EVP_API
#endif

#ifdef __cplusplus
#  define EVP_BEGIN_DECLS extern "C" {
#  define EVP_END_DECLS }
#else
#  define EVP_BEGIN_DECLS
#  define EVP_END_DECLS
#endif

EVP_BEGIN_DECLS

/**
 * Free memory that libevpipe allocated and handed to the caller (documented as
 * "caller frees with evp_free()"). NULL is a no-op.
 *
 * Thread-safety: safe from any thread.
 */
EVP_API void evp_free(void *ptr);

EVP_END_DECLS

#endif /* EVPIPE_COMMON_H */
