/* Internal header of the core area: helpers shared by every part of
 * libevpipe. Nothing here is public ABI. */
#ifndef EVP_CORE_CORE_H
#define EVP_CORE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/common.h"
#include "evpipe/error.h"

#if defined(__GNUC__)
#  define EVP__PRINTF(f, a) __attribute__((format(printf, f, a)))
#  define EVP__LIKELY(x) __builtin_expect(!!(x), 1)
#  define EVP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define EVP__PRINTF(f, a)
#  define EVP__LIKELY(x) (x)
#  define EVP__UNLIKELY(x) (x)
#endif

/* Write a formatted message into a caller's errstr buffer (either may be
 * NULL/0) and return @p err, so error paths are one line. */
evp_err_t evp__seterr(char *errstr, size_t errstr_size, evp_err_t err,
                      const char *fmt, ...) EVP__PRINTF(4, 5);

/* Number of codes in evp_err_t (the highest value + 1). */
int evp__err_count(void);

/* Constant-time comparison of two equal-length buffers: 0 when equal. */
int evp__ct_memcmp(const void *a, const void *b, size_t n);

/* Fill @p buf with cryptographically secure random bytes (OpenSSL RAND). */
evp_err_t evp__random(void *buf, size_t n);

/* The system clock in seconds since the epoch (an evp_clock_fn). */
int64_t evp__system_clock(void *opaque);

/* strdup that returns NULL for NULL. */
char *evp__strdup(const char *s);

#endif /* EVP_CORE_CORE_H */
