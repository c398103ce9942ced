/**
 * @file common.h
 * @brief Export macro, C++ linkage guards, the log levels, the library's
 *        deallocator, and the conventions every public header follows.
 *
 * Included by every other public header; it compiles on its own.
 *
 * Conventions of the public API:
 *  - Names: functions `evp_<object>_<verb>`, macros `EVP_`; an object type
 *    `evp_X_t` is `struct evp_X_s` (opaque); a callback type ends in `_cb_t`.
 *  - Errors: a function that can fail returns an ::evp_err_t (EVP_OK on
 *    success). When it can fail in ways a code alone does not explain, it also
 *    takes `char *errstr, size_t errstr_size` as its last two parameters and
 *    writes a NUL-terminated, truncated-to-fit reason there on failure
 *    (errstr may be NULL; secrets never appear in it).
 *  - Constructors (`_new`, `_dup`, `_compile`) return the new handle, or NULL
 *    on failure, like librdkafka's rd_kafka_new():
 *     - one that can only fail for lack of memory takes no error parameters:
 *       NULL means out of memory (evp_conf_new(), evp_keyring_new(),
 *       evp_schema_loader_new(), evp_schema_ctx_new());
 *     - one that can fail for other reasons takes errstr/errstr_size last and
 *       writes the reason there (evp_client_new(), evp_jwt_signer_new(),
 *       evp_jwt_verifier_new(), evp_lambda_runtime_new());
 *     - where a program has distinct failures to act on, an optional
 *       `evp_err_t *errp` (may be NULL) comes just before errstr and receives
 *       EVP_OK or the error code (evp_schema_compile(), evp_client_create():
 *       evp_client_new() is evp_client_create() without it).
 *  - Destructors are named `_destroy`, take ownership of their argument, and
 *    do nothing when given NULL.
 *  - Every function's documentation states ownership (who frees what; a
 *    borrowed pointer is only read during the call unless it says it must
 *    outlive an object) and thread-safety.
 *  - Log levels are one enum, ::evp_log_level_t, with syslog numbering, for
 *    the client's log callback and the Lambda runtime's evp_lambda_log().
 *  - ::evp_err_t is append-only (see error.h).
 */
#ifndef EVPIPE_COMMON_H
#define EVPIPE_COMMON_H

#include <stddef.h>

/* EVP_API marks the public ABI. The library is built with hidden visibility,
 * so anything without EVP_API stays internal to libevpipe.so. */
#if defined(_WIN32)
#if defined(EVP_BUILDING)
#define EVP_API __declspec(dllexport)
#else
#define EVP_API
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define EVP_API __attribute__((visibility("default")))
#else
#define EVP_API
#endif

#ifdef __cplusplus
#define EVP_BEGIN_DECLS extern "C" {
#define EVP_END_DECLS }
#else
#define EVP_BEGIN_DECLS
#define EVP_END_DECLS
#endif

EVP_BEGIN_DECLS

/**
 * Log levels, with syslog's numbering (a smaller number is more severe), so
 * they map one to one onto syslog(3) priorities. A threshold of level L shows
 * every message whose level is <= L.
 */
typedef enum evp_log_level_t {
  EVP_LOG_ERR = 3,     /**< An error: something failed (syslog LOG_ERR). */
  EVP_LOG_WARNING = 4, /**< A problem the library works around (LOG_WARNING). */
  EVP_LOG_NOTICE = 5,  /**< A normal but significant condition (LOG_NOTICE). */
  EVP_LOG_INFO = 6,    /**< Informational (LOG_INFO). */
  EVP_LOG_DEBUG = 7    /**< Debugging detail (LOG_DEBUG). */
} evp_log_level_t;

/**
 * Free memory that libevpipe allocated and handed to the caller (documented as
 * "caller frees with evp_free()"). NULL is a no-op.
 *
 * @param ptr  the memory; ownership passes to the call.
 *
 * Thread-safety: safe from any thread.
 */
EVP_API void evp_free(void *ptr);

EVP_END_DECLS

#endif /* EVPIPE_COMMON_H */
