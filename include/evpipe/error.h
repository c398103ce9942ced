/**
 * @file error.h
 * @brief The error codes of every libevpipe function.
 *
 * The enum is append-only: values never change meaning or number, so they can
 * be stored, logged and compared across library versions.
 */
#ifndef EVPIPE_ERROR_H
#define EVPIPE_ERROR_H

#include "common.h"

EVP_BEGIN_DECLS

/** The result of every libevpipe function that can fail (EVP_OK: success). */
typedef enum evp_err_t {
  EVP_OK = 0,                 /**< Success. */
  EVP_ERR_INVALID_ARG = 1,    /**< A NULL or out-of-range argument. */
  EVP_ERR_NOMEM = 2,          /**< Memory allocation failed. */
  EVP_ERR_IO = 3,             /**< A file or socket operation failed. */
  EVP_ERR_TOO_LARGE = 4,      /**< Input exceeds a configured size limit. */
  EVP_ERR_UNSUPPORTED = 5,    /**< Not supported by this build or platform. */
  EVP_ERR_INTERNAL = 6,       /**< An internal invariant failed (a bug). */
  EVP_ERR_KEY_TOO_SHORT = 7,  /**< HMAC key shorter than 32 bytes (RFC 7518 3.2). */
  EVP_ERR_BASE64 = 8,         /**< Invalid base64/base64url text. */
  EVP_ERR_JWT_MALFORMED = 9,  /**< Token is not three well-formed JWS segments of JSON objects. */
  EVP_ERR_JWT_BAD_ALG = 10,   /**< Header alg missing or not exactly "HS256". */
  EVP_ERR_JWT_BAD_TYP = 11,   /**< Header typ present and not "JWT". */
  EVP_ERR_JWT_DUPLICATE = 12, /**< Duplicate member name in header or claims. */
  EVP_ERR_JWT_BAD_SIGNATURE = 13,    /**< HMAC signature does not match. */
  EVP_ERR_JWT_UNKNOWN_KEY = 14,      /**< No key in the keyring for the token's kid. */
  EVP_ERR_JWT_EXPIRED = 15,          /**< exp is in the past (beyond the leeway). */
  EVP_ERR_JWT_NOT_YET_VALID = 16,    /**< nbf is in the future (beyond the leeway). */
  EVP_ERR_JWT_ISSUED_IN_FUTURE = 17, /**< iat is in the future (beyond the leeway). */
  EVP_ERR_JWT_BAD_AUDIENCE = 18,     /**< aud does not contain the expected audience. */
  EVP_ERR_JWT_BAD_ISSUER = 19,       /**< iss differs from the expected issuer. */
  EVP_ERR_JWT_BAD_CLAIM = 20,        /**< A registered claim is missing or has the wrong type. */
  EVP_ERR_JSON = 21,                 /**< Invalid JSON text. */
  EVP_ERR_TOO_DEEP = 22,             /**< JSON nesting deeper than the configured limit. */
  EVP_ERR_SCHEMA_INVALID = 23,       /**< The schema document itself is invalid. */
  EVP_ERR_SCHEMA_REF = 24,           /**< A $ref could not be resolved. */
  EVP_ERR_SCHEMA_REGEX = 25,         /**< A pattern in the schema is not a valid regex. */
  EVP_ERR_INVALID_EVENT = 26,        /**< The instance does not validate against the schema. */
  EVP_ERR_CONF_UNKNOWN = 27,         /**< Unknown configuration property. */
  EVP_ERR_CONF_INVALID = 28,         /**< Configuration value of the wrong type or out of range. */
  EVP_ERR_QUEUE_FULL = 29,           /**< The bounded queue is full. */
  EVP_ERR_TIMED_OUT = 30,            /**< An operation did not finish in time. */
  EVP_ERR_STATE = 31,                /**< Object in the wrong state (destroyed, forked, closing). */
  EVP_ERR_TRANSPORT = 32,            /**< Network/transport failure (connect, TLS, reset). */
  EVP_ERR_HTTP = 33,                 /**< Unexpected HTTP status from the server. */
  EVP_ERR_AUTH = 34,      /**< Authentication failed (bad credentials or token refused). */
  EVP_ERR_PERMISSION = 35 /**< A file has unsafe permissions or access was denied. */
  /* Append new codes here; never renumber. */
} evp_err_t;

/**
 * A human-readable description of an error code.
 * @param err  any value, known to this version or not.
 * @return the description; "Unknown error" for values this version does not
 *         know. Ownership: static storage, never freed.
 * Thread-safety: any thread.
 */
EVP_API const char *evp_err2str(evp_err_t err);

/**
 * The name of an error code's enum constant, for logs and bindings.
 * @param err  any value, known to this version or not.
 * @return the name, e.g. "EVP_ERR_JWT_EXPIRED"; "EVP_ERR_UNKNOWN" for values
 *         this version does not know. Ownership: static storage, never freed.
 * Thread-safety: any thread.
 */
EVP_API const char *evp_err2name(evp_err_t err);

EVP_END_DECLS

#endif /* EVPIPE_ERROR_H */
