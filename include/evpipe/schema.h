/**
 * @file schema.h
 * @brief JSON Schema draft-07 validation: compile a schema once, validate
 *        many JSON documents against it.
 *
 * Three opaque objects:
 *  - evp_schema_loader_t: compile options plus the remote resources that
 *    "$ref"s may point at (nothing is ever fetched from the network);
 *  - evp_schema_t: a compiled, immutable schema, shareable between threads;
 *  - evp_schema_ctx_t: a per-thread workspace (parser buffers, regex match
 *    data, error list). Reusing one makes validation allocation-free once
 *    the buffers have grown to the size of the largest document seen.
 *
 * Typical use:
 * @code
 *   char err[256];
 *   evp_schema_t *s = evp_schema_compile(text, len, NULL, NULL, err, sizeof err);
 *   evp_schema_ctx_t *c = evp_schema_ctx_new();
 *   evp_err_t rc = evp_schema_validate(s, c, event, event_len);
 *   if (rc == EVP_ERR_INVALID_EVENT)
 *     for (size_t i = 0; i < evp_schema_ctx_error_count(c); i++)
 *       printf("%s: %s\n", evp_schema_ctx_error_instance_path(c, i),
 *              evp_schema_ctx_error_message(c, i));
 *   evp_schema_ctx_destroy(c);
 *   evp_schema_destroy(s);
 * @endcode
 *
 * See docs/schema-validation.md for limits, the error format and the known
 * deviations from ECMA-262 regular expressions.
 */
#ifndef EVPIPE_SCHEMA_H
#define EVPIPE_SCHEMA_H

#include <stddef.h>
#include "common.h"
#include "error.h"

EVP_BEGIN_DECLS

/** Default instance nesting depth (arrays and objects). */
#define EVP_SCHEMA_DEFAULT_MAX_DEPTH 64
/** Hard maximum of the instance nesting depth. */
#define EVP_SCHEMA_MAX_DEPTH_LIMIT 1000
/** Default maximum instance size in bytes (1 MiB). */
#define EVP_SCHEMA_DEFAULT_MAX_INPUT (1024u * 1024u)
/** Default number of errors collected per validation (stop at the first). */
#define EVP_SCHEMA_DEFAULT_MAX_ERRORS 1
/** Hard maximum number of errors collected per validation. */
#define EVP_SCHEMA_MAX_ERRORS_LIMIT 10000
/** Largest schema document accepted by the compiler (16 MiB). */
#define EVP_SCHEMA_MAX_SCHEMA_SIZE (16u * 1024u * 1024u)

/** Compile options and caller-registered remote resources. */
typedef struct evp_schema_loader_s evp_schema_loader_t;
/** A compiled schema. Immutable: validate from any number of threads. */
typedef struct evp_schema_s evp_schema_t;
/** Per-thread validation workspace and the errors of its last validation. */
typedef struct evp_schema_ctx_s evp_schema_ctx_t;

/* ------------------------------------------------------------ loader */

/**
 * Create a loader with default options (formats asserted).
 * @return the loader, or NULL when out of memory (the only failure).
 * Ownership: caller destroys with evp_schema_loader_destroy().
 * Thread-safety: a loader may be used by one thread at a time while being
 * modified; evp_schema_compile() only reads it.
 */
EVP_API evp_schema_loader_t *evp_schema_loader_new(void);

/**
 * Destroy a loader and its resources. Schemas compiled with it stay valid:
 * they copy what they need.
 * @param loader  the loader (NULL is a no-op).
 * Ownership: takes @p loader. Thread-safety: not concurrently with its use.
 */
EVP_API void evp_schema_loader_destroy(evp_schema_loader_t *loader);

/**
 * Register a schema document so that "$ref"s to it resolve at compile time.
 * @param loader       the loader.
 * @param uri          its absolute URI (a trailing empty fragment "#" is ignored).
 * @param json         the document text, parsed now (need not be NUL-terminated).
 * @param len          its length in bytes.
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return EVP_OK; EVP_ERR_JSON when @p json is not valid JSON;
 *         EVP_ERR_INVALID_ARG when an argument is NULL, @p uri is empty or
 *         has a non-empty fragment, or a resource with that URI already
 *         exists; EVP_ERR_NOMEM.
 * Ownership: borrows @p uri and @p json (both are copied).
 * Thread-safety: not concurrently with other use of the same loader.
 */
EVP_API evp_err_t evp_schema_add_resource(evp_schema_loader_t *loader, const char *uri,
                                          const char *json, size_t len, char *errstr,
                                          size_t errstr_size);

/**
 * Whether "format" is an assertion or only an annotation in schemas compiled
 * later.
 * @param loader  the loader (NULL is a no-op).
 * @param on      1: an assertion (the default); 0: an annotation.
 * Ownership: borrows. Thread-safety: not concurrently with other use of the
 * same loader.
 */
EVP_API void evp_schema_loader_set_format_assert(evp_schema_loader_t *loader, int on);

/* ------------------------------------------------------------ schema */

/**
 * Compile a draft-07 schema. All "$ref"s are resolved now, against the
 * document itself, the resources of @p loader and the built-in draft-07
 * meta-schema; all patterns are compiled now.
 * @param json         the schema text (need not be NUL-terminated).
 * @param len          its length in bytes (at most EVP_SCHEMA_MAX_SCHEMA_SIZE).
 * @param loader       options and resources, or NULL for the defaults.
 * @param errp         if not NULL, receives EVP_OK on success or the code on
 *                     failure: EVP_ERR_INVALID_ARG, EVP_ERR_JSON,
 *                     EVP_ERR_TOO_LARGE, EVP_ERR_TOO_DEEP,
 *                     EVP_ERR_SCHEMA_INVALID, EVP_ERR_SCHEMA_REF,
 *                     EVP_ERR_SCHEMA_REGEX, EVP_ERR_NOMEM.
 * @param errstr       receives the reason on failure, with the JSON pointer
 *                     of the faulty keyword (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return the compiled schema, or NULL on failure.
 * Ownership: borrows everything; caller destroys the result with
 * evp_schema_destroy(). The result does not reference @p loader.
 * Thread-safety: any thread.
 */
EVP_API evp_schema_t *evp_schema_compile(const char *json, size_t len,
                                         const evp_schema_loader_t *loader, evp_err_t *errp,
                                         char *errstr, size_t errstr_size);

/**
 * Destroy a compiled schema.
 * @param schema  the schema (NULL is a no-op).
 * Ownership: takes @p schema. Thread-safety: no validation with it may be
 * running or start afterwards.
 */
EVP_API void evp_schema_destroy(evp_schema_t *schema);

/* ------------------------------------------------------------ validation */

/**
 * Create a validation workspace with the default limits.
 * @return the workspace, or NULL when out of memory (the only failure).
 * Ownership: caller destroys with evp_schema_ctx_destroy().
 * Thread-safety: use one context per thread; a context is not shareable.
 */
EVP_API evp_schema_ctx_t *evp_schema_ctx_new(void);

/**
 * Destroy a workspace; the error strings it returned die with it.
 * @param ctx  the workspace (NULL is a no-op).
 * Ownership: takes @p ctx. Thread-safety: not while it is in use.
 */
EVP_API void evp_schema_ctx_destroy(evp_schema_ctx_t *ctx);

/**
 * Set the limits used by later validations.
 * @param ctx         the workspace.
 * @param max_input   largest instance in bytes (0: the default,
 *                    EVP_SCHEMA_DEFAULT_MAX_INPUT).
 * @param max_depth   deepest array/object nesting, 1 ..
 *                    EVP_SCHEMA_MAX_DEPTH_LIMIT (0: the default).
 * @param max_errors  1 stops at the first error (fastest); N collects up to
 *                    N errors, at most EVP_SCHEMA_MAX_ERRORS_LIMIT (0: the
 *                    default).
 * @return EVP_OK, or EVP_ERR_INVALID_ARG when out of range (nothing is
 *         changed then).
 * Ownership: borrows. Thread-safety: the thread that uses @p ctx.
 */
EVP_API evp_err_t evp_schema_ctx_set_limits(evp_schema_ctx_t *ctx, size_t max_input, int max_depth,
                                            size_t max_errors);

/**
 * Parse a JSON document and validate it against a schema.
 * @param schema  the compiled schema.
 * @param ctx     the workspace; receives the errors.
 * @param json    the document text (need not be NUL-terminated).
 * @param len     its length in bytes.
 * @return EVP_OK when valid; EVP_ERR_INVALID_EVENT when not (the errors are
 *         in @p ctx); EVP_ERR_JSON, EVP_ERR_TOO_LARGE, EVP_ERR_TOO_DEEP when
 *         the text is not acceptable (one error in @p ctx explains it);
 *         EVP_ERR_NOMEM; EVP_ERR_INVALID_ARG for NULL arguments.
 * Ownership: borrows all arguments.
 * Thread-safety: @p schema may be used concurrently; @p ctx may not.
 */
EVP_API evp_err_t evp_schema_validate(const evp_schema_t *schema, evp_schema_ctx_t *ctx,
                                      const char *json, size_t len);

/**
 * Number of errors recorded by the last validation.
 * @param ctx  the workspace.
 * @return the count (0 for NULL).
 * Ownership: borrows. Thread-safety: the thread that uses @p ctx.
 */
EVP_API size_t evp_schema_ctx_error_count(const evp_schema_ctx_t *ctx);

/**
 * Whether the last validation stopped early because it had collected
 * max_errors (> 1) errors, so more may exist.
 * @param ctx  the workspace.
 * @return 1 when it stopped early, 0 otherwise (also with max_errors 1, stop
 *         at the first error: that mode never promises more; 0 for NULL).
 * Ownership: borrows. Thread-safety: the thread that uses @p ctx.
 */
EVP_API int evp_schema_ctx_errors_truncated(const evp_schema_ctx_t *ctx);

/**
 * The instance path of an error of the last validation.
 * @param ctx  the workspace.
 * @param i    the error's index, 0-based.
 * @return a JSON pointer into the instance ("" is the root); NULL when @p i
 *         is out of range.
 * Ownership: the string belongs to @p ctx and lives until its next
 * validation or destruction. Thread-safety: the thread that uses @p ctx.
 */
EVP_API const char *evp_schema_ctx_error_instance_path(const evp_schema_ctx_t *ctx, size_t i);
/**
 * The schema path of an error of the last validation.
 * @param ctx  the workspace.
 * @param i    the error's index, 0-based.
 * @return "#" plus a JSON pointer to the failing keyword, prefixed with the
 *         base URI of the schema resource when it is not the root document;
 *         NULL when @p i is out of range.
 * Ownership: as evp_schema_ctx_error_instance_path(). Thread-safety: the
 * thread that uses @p ctx.
 */
EVP_API const char *evp_schema_ctx_error_schema_path(const evp_schema_ctx_t *ctx, size_t i);
/**
 * The keyword of an error of the last validation.
 * @param ctx  the workspace.
 * @param i    the error's index, 0-based.
 * @return e.g. "required"; "false" for a false schema; "parse" for JSON
 *         syntax errors and "limit" for the limits (their schema path is not
 *         a keyword location); NULL when @p i is out of range.
 * Ownership: as evp_schema_ctx_error_instance_path(). Thread-safety: the
 * thread that uses @p ctx.
 */
EVP_API const char *evp_schema_ctx_error_keyword(const evp_schema_ctx_t *ctx, size_t i);
/**
 * The message of an error of the last validation.
 * @param ctx  the workspace.
 * @param i    the error's index, 0-based.
 * @return readable English text; NULL when @p i is out of range.
 * Ownership: as evp_schema_ctx_error_instance_path(). Thread-safety: the
 * thread that uses @p ctx.
 */
EVP_API const char *evp_schema_ctx_error_message(const evp_schema_ctx_t *ctx, size_t i);

EVP_END_DECLS

#endif /* EVPIPE_SCHEMA_H */
