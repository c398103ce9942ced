/**
 * @file jwt.h
 * @brief The token core: base64url, HMAC-SHA256, and HS256 JSON Web Tokens.
 *
 * Tokens are signed and verified with HS256 only (RFC 7515, 7518, 7519),
 * following the JWT Best Current Practices (RFC 8725): the algorithm is never
 * taken from the token, "none" is refused, keys are at least 32 bytes, and
 * every rejection has its own error code.
 *
 * Typical use:
 * @code
 *   evp_keyring_t *kr = evp_keyring_new();
 *   evp_keyring_add(kr, "v2", key, keylen, errstr, sizeof errstr);
 *   evp_jwt_signer_t *s = evp_jwt_signer_new(kr, errstr, sizeof errstr);
 *   evp_jwt_signer_set_issuer(s, "https://auth.example");
 *   char *tok; evp_jwt_sign(s, "client-1", "events", NULL, &tok, errstr, sizeof errstr);
 *
 *   evp_jwt_verifier_t *v = evp_jwt_verifier_new(kr, errstr, sizeof errstr);
 *   evp_jwt_verifier_set_audience(v, "events");
 *   evp_jwt_t *jwt; evp_jwt_verify(v, tok, strlen(tok), &jwt, errstr, sizeof errstr);
 * @endcode
 */
#ifndef EVPIPE_JWT_H
#define EVPIPE_JWT_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "error.h"

EVP_BEGIN_DECLS

/** Smallest HMAC key accepted (RFC 7518 section 3.2: at least the hash size). */
#define EVP_JWT_MIN_KEY_LEN 32
/** Default token lifetime in seconds (20 minutes). */
#define EVP_JWT_DEFAULT_TTL 1200
/** Default clock-skew leeway in seconds for exp, nbf and iat. */
#define EVP_JWT_DEFAULT_LEEWAY 30
/** Default upper bound on the length of a token accepted by the verifier. */
#define EVP_JWT_DEFAULT_MAX_LEN 8192
/** Longest kid accepted, in bytes. */
#define EVP_JWT_MAX_KID_LEN 128

/* ------------------------------------------------------------ base64url */

/**
 * Length of the unpadded base64url encoding of some bytes.
 * @param n  the number of bytes to encode.
 * @return the number of characters, without a NUL.
 * Thread-safety: any thread.
 */
EVP_API size_t evp_base64url_encoded_len(size_t n);

/**
 * Encode bytes as base64url without padding (RFC 4648 section 5) and
 * NUL-terminate.
 * @param in   the bytes.
 * @param n    their number.
 * @param out  receives the text; must hold evp_base64url_encoded_len(n) + 1 bytes.
 * @return the number of characters written (without the NUL).
 * Ownership: borrows both buffers. Thread-safety: any thread.
 */
EVP_API size_t evp_base64url_encode(const void *in, size_t n, char *out);

/**
 * Decode unpadded base64url text. Padding ('='), whitespace, characters outside
 * the URL-safe alphabet, a length of 1 mod 4 and non-zero trailing bits are
 * all refused.
 * @param in      the text (need not be NUL-terminated).
 * @param len     its length in bytes.
 * @param out     receives the bytes; must hold at least (len * 3) / 4 bytes.
 * @param outlen  receives the decoded length.
 * @return EVP_OK, EVP_ERR_BASE64 or EVP_ERR_INVALID_ARG.
 * Ownership: borrows. Thread-safety: any thread.
 */
EVP_API evp_err_t evp_base64url_decode(const char *in, size_t len, unsigned char *out,
                                       size_t *outlen);

/* ------------------------------------------------------------ HMAC */

/**
 * HMAC-SHA256 (RFC 2104) with the library's crypto backend: OpenSSL, or
 * mbedTLS in a build with -DEVPIPE_CRYPTO=mbedtls. Any key length is accepted
 * here; the JWT keyring enforces the minimum.
 * @param key     the key.
 * @param keylen  its length in bytes.
 * @param msg     the message.
 * @param msglen  its length in bytes.
 * @param mac     receives the 32-byte MAC.
 * @return EVP_OK, EVP_ERR_INVALID_ARG or EVP_ERR_INTERNAL (the crypto backend failed).
 * Ownership: borrows. Thread-safety: any thread.
 */
EVP_API evp_err_t evp_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                                  unsigned char mac[32]);

/* ------------------------------------------------------------ keyring */

/** A set of HS256 keys selected by kid; one of them is the signing key. */
typedef struct evp_keyring_s evp_keyring_t;

/**
 * Create an empty keyring.
 * @return the keyring, or NULL when out of memory (the only failure).
 * Ownership: caller destroys with evp_keyring_destroy(). Thread-safety: any thread.
 */
EVP_API evp_keyring_t *evp_keyring_new(void);

/**
 * Add a key. The first key added becomes the signing key; see
 * evp_keyring_set_current().
 * @param kr           the keyring.
 * @param kid          identifies the key in token headers (NULL: the key used
 *                     for tokens without a kid); copied.
 * @param key          the key bytes; copied (the caller may wipe its copy).
 * @param keylen       at least EVP_JWT_MIN_KEY_LEN.
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return EVP_OK, EVP_ERR_KEY_TOO_SHORT (< 32 bytes), EVP_ERR_INVALID_ARG
 *         (kid longer than EVP_JWT_MAX_KID_LEN, or already present), EVP_ERR_NOMEM.
 * Thread-safety: a keyring must not be modified while signers or verifiers use
 * it; to rotate keys at run time, build a new keyring and new verifier.
 */
EVP_API evp_err_t evp_keyring_add(evp_keyring_t *kr, const char *kid, const void *key,
                                  size_t keylen, char *errstr, size_t errstr_size);

/**
 * Choose the signing key, as when a rotation promotes a new secret while the
 * previous one still verifies.
 * @param kr   the keyring.
 * @param kid  the key's kid (NULL: the kid-less key); borrowed.
 * @return EVP_OK, EVP_ERR_JWT_UNKNOWN_KEY or EVP_ERR_INVALID_ARG.
 * Thread-safety: as evp_keyring_add().
 */
EVP_API evp_err_t evp_keyring_set_current(evp_keyring_t *kr, const char *kid);

/**
 * Number of keys in a keyring.
 * @param kr  the keyring (borrowed).
 * @return the count (0 for NULL). Thread-safety: any thread.
 */
EVP_API size_t evp_keyring_count(const evp_keyring_t *kr);

/**
 * Destroy a keyring, wiping every key (OPENSSL_cleanse).
 * @param kr  the keyring (NULL is a no-op); signers and verifiers created
 *            from it must be destroyed first. Ownership: takes.
 * Thread-safety: not concurrently with any use of @p kr.
 */
EVP_API void evp_keyring_destroy(evp_keyring_t *kr);

/* ------------------------------------------------------------ clock */

/**
 * A clock: returns the current time in seconds since the Unix epoch.
 * Injected for tests and for hosts with their own time source. It receives
 * the opaque pointer given with it and may be called from any thread that
 * signs or verifies.
 */
typedef int64_t (*evp_clock_cb_t)(void *opaque);

/* ------------------------------------------------------------ signing */

/** Signs HS256 tokens with a keyring's current key. */
typedef struct evp_jwt_signer_s evp_jwt_signer_t;

/**
 * Create a signer.
 * @param kr           the keyring (borrowed: it must outlive the signer).
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return the signer, or NULL when @p kr is NULL or has no key, or out of
 *         memory (reason in @p errstr). The signer keeps using the key that
 *         was current when it was created: after evp_keyring_set_current(),
 *         create a new signer.
 * Ownership: caller destroys with evp_jwt_signer_destroy().
 * Thread-safety: any thread.
 */
EVP_API evp_jwt_signer_t *evp_jwt_signer_new(const evp_keyring_t *kr, char *errstr,
                                             size_t errstr_size);

/**
 * Set the iss claim of the tokens signed later.
 * @param s    the signer.
 * @param iss  the issuer, copied (NULL: no iss).
 * @return EVP_OK, EVP_ERR_INVALID_ARG (empty, over 1024 bytes, not UTF-8) or
 *         EVP_ERR_NOMEM. Thread-safety: not concurrently with signing.
 */
EVP_API evp_err_t evp_jwt_signer_set_issuer(evp_jwt_signer_t *s, const char *iss);

/**
 * Set the lifetime of the tokens signed later.
 * @param s      the signer.
 * @param ttl_s  seconds, 1 .. 31536000 (default 1200).
 * @return EVP_OK or EVP_ERR_INVALID_ARG. Thread-safety: not concurrently with signing.
 */
EVP_API evp_err_t evp_jwt_signer_set_ttl(evp_jwt_signer_t *s, int64_t ttl_s);

/**
 * Set the signer's clock.
 * @param s       the signer.
 * @param fn      the clock, or NULL: the system clock.
 * @param opaque  passed to @p fn; borrowed, must outlive the signer.
 * Thread-safety: not concurrently with signing.
 */
EVP_API void evp_jwt_signer_set_clock(evp_jwt_signer_t *s, evp_clock_cb_t fn, void *opaque);

/**
 * Sign a token. Header {"alg":"HS256","typ":"JWT","kid":...} (kid omitted for
 * a kid-less key); claims iss (if set), sub, aud, iat, nbf (= iat), exp
 * (= iat + ttl) and jti (128 random bits, base64url), followed by the members
 * of @p claims_json, a JSON object text or NULL. Caller claims may not repeat
 * a registered claim name (EVP_ERR_INVALID_ARG) and must be valid JSON
 * (EVP_ERR_JSON).
 * @param s            the signer.
 * @param sub          required, a UTF-8 string (copied into the token).
 * @param aud          required, a UTF-8 string (copied into the token).
 * @param claims_json  a JSON object text of extra claims, or NULL.
 * @param tokenp       receives the NUL-terminated token; caller frees with evp_free().
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return EVP_OK, EVP_ERR_INVALID_ARG, EVP_ERR_JSON, EVP_ERR_NOMEM or
 *         EVP_ERR_INTERNAL (no random bytes for the jti).
 * Ownership: borrows every input. Thread-safety: concurrent calls on one
 * signer are safe once configured.
 */
EVP_API evp_err_t evp_jwt_sign(const evp_jwt_signer_t *s, const char *sub, const char *aud,
                               const char *claims_json, char **tokenp, char *errstr,
                               size_t errstr_size);

/**
 * Destroy a signer.
 * @param s  the signer (NULL is a no-op). Ownership: takes.
 * Thread-safety: not concurrently with its use.
 */
EVP_API void evp_jwt_signer_destroy(evp_jwt_signer_t *s);

/* ------------------------------------------------------------ verification */

/** Verifies HS256 tokens against a keyring and a policy. */
typedef struct evp_jwt_verifier_s evp_jwt_verifier_t;

/** A verified token: its claims, read-only. */
typedef struct evp_jwt_s evp_jwt_t;

/**
 * Create a verifier. Defaults: leeway 30 s, exp required, no audience or
 * issuer check, tokens up to 8192 bytes, system clock.
 * @param kr           the keyring (borrowed: it must outlive the verifier).
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return the verifier, or NULL when @p kr is NULL or out of memory (reason
 *         in @p errstr).
 * Ownership: caller destroys with evp_jwt_verifier_destroy().
 * Thread-safety: any thread.
 */
EVP_API evp_jwt_verifier_t *evp_jwt_verifier_new(const evp_keyring_t *kr, char *errstr,
                                                 size_t errstr_size);

/**
 * Require an audience.
 * @param v    the verifier.
 * @param aud  must appear in the token's aud (a string or an array); copied.
 *             NULL: no check.
 * @return EVP_OK, EVP_ERR_INVALID_ARG or EVP_ERR_NOMEM.
 * Thread-safety: not concurrently with verification.
 */
EVP_API evp_err_t evp_jwt_verifier_set_audience(evp_jwt_verifier_t *v, const char *aud);
/**
 * Require an issuer.
 * @param v    the verifier.
 * @param iss  the token's iss must equal it exactly; copied. NULL: no check.
 * @return EVP_OK, EVP_ERR_INVALID_ARG or EVP_ERR_NOMEM.
 * Thread-safety: not concurrently with verification.
 */
EVP_API evp_err_t evp_jwt_verifier_set_issuer(evp_jwt_verifier_t *v, const char *iss);
/**
 * Set the clock-skew leeway for exp, nbf and iat.
 * @param v         the verifier.
 * @param leeway_s  seconds, 0 .. 3600 (default 30).
 * @return EVP_OK or EVP_ERR_INVALID_ARG.
 * Thread-safety: not concurrently with verification.
 */
EVP_API evp_err_t evp_jwt_verifier_set_leeway(evp_jwt_verifier_t *v, int64_t leeway_s);
/**
 * Cap the lifetime of accepted tokens: when @p max_s > 0, a token must carry
 * iat and exp, and exp - iat may exceed @p max_s by at most the leeway
 * (EVP_ERR_JWT_BAD_CLAIM otherwise). Set it to the issuer's TTL: a token that
 * lives longer was not minted by the issuer (a leaked key, a misconfigured
 * signer).
 * @param v      the verifier.
 * @param max_s  seconds, 0 .. 31536000; default 0 (no cap).
 * @return EVP_OK or EVP_ERR_INVALID_ARG.
 * Thread-safety: not concurrently with verification.
 */
EVP_API evp_err_t evp_jwt_verifier_set_max_lifetime(evp_jwt_verifier_t *v, int64_t max_s);
/**
 * Whether exp must be present.
 * @param v         the verifier.
 * @param required  1 (the default) or 0.
 * Thread-safety: not concurrently with verification.
 */
EVP_API void evp_jwt_verifier_set_require_exp(evp_jwt_verifier_t *v, int required);
/**
 * Set the longest token accepted.
 * @param v        the verifier.
 * @param max_len  bytes, 64 .. 1048576 (default 8192).
 * @return EVP_OK or EVP_ERR_INVALID_ARG.
 * Thread-safety: not concurrently with verification.
 */
EVP_API evp_err_t evp_jwt_verifier_set_max_len(evp_jwt_verifier_t *v, size_t max_len);
/**
 * Set the verifier's clock.
 * @param v       the verifier.
 * @param fn      the clock, or NULL: the system clock.
 * @param opaque  passed to @p fn; borrowed, must outlive the verifier.
 * Thread-safety: not concurrently with verification.
 */
EVP_API void evp_jwt_verifier_set_clock(evp_jwt_verifier_t *v, evp_clock_cb_t fn, void *opaque);

/**
 * Verify @p token (@p len bytes, need not be NUL-terminated).
 *
 * Checks, in order: size and exactly three base64url segments; header is a
 * JSON object without duplicate names, alg exactly "HS256", typ absent or
 * "JWT", kid known to the keyring; the signature, compared in constant time;
 * then the claims (a JSON object without duplicate names): exp, nbf and iat
 * against the clock with the leeway, iss and aud when configured.
 *
 * @param v            the verifier.
 * @param token        the token text (borrowed).
 * @param len          its length in bytes.
 * @param jwtp         if not NULL, receives the verified token on success
 *                     (caller destroys with evp_jwt_destroy()); set to NULL on
 *                     any failure, so nothing partial is ever returned.
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return EVP_OK or the specific EVP_ERR_JWT_* / EVP_ERR_TOO_LARGE code.
 * Thread-safety: concurrent calls on one verifier are safe once configured.
 */
EVP_API evp_err_t evp_jwt_verify(const evp_jwt_verifier_t *v, const char *token, size_t len,
                                 evp_jwt_t **jwtp, char *errstr, size_t errstr_size);

/**
 * Destroy a verifier.
 * @param v  the verifier (NULL is a no-op). Ownership: takes.
 * Thread-safety: not concurrently with its use.
 */
EVP_API void evp_jwt_verifier_destroy(evp_jwt_verifier_t *v);

/**
 * The verified claims.
 * @param jwt  the verified token.
 * @return the claims as a JSON object text, exactly as signed.
 * Ownership: borrowed, valid until evp_jwt_destroy(). Thread-safety: any thread.
 */
EVP_API const char *evp_jwt_claims_json(const evp_jwt_t *jwt);

/**
 * A string claim.
 * @param jwt   the verified token.
 * @param name  the claim, e.g. "sub", "iss", "jti", or a caller claim.
 * @return the value, or NULL when absent or not a string.
 * Ownership: borrowed, valid until evp_jwt_destroy().
 * Thread-safety: not safe concurrently on the same evp_jwt_t.
 */
EVP_API const char *evp_jwt_claim_str(const evp_jwt_t *jwt, const char *name);

/**
 * A numeric claim truncated to an integer.
 * @param jwt    the verified token.
 * @param name   the claim, e.g. "exp".
 * @param value  receives the value.
 * @return EVP_OK, or EVP_ERR_JWT_BAD_CLAIM when absent or not a number.
 * Thread-safety: not safe concurrently on the same evp_jwt_t.
 */
EVP_API evp_err_t evp_jwt_claim_int(const evp_jwt_t *jwt, const char *name, int64_t *value);

/**
 * The key that verified a token.
 * @param jwt  the verified token.
 * @return its kid, or NULL for the kid-less key. Ownership: borrowed, valid
 *         until evp_jwt_destroy(). Thread-safety: any thread.
 */
EVP_API const char *evp_jwt_kid(const evp_jwt_t *jwt);

/**
 * Destroy a verified token.
 * @param jwt  the token (NULL is a no-op). Ownership: takes.
 * Thread-safety: not concurrently with its use.
 */
EVP_API void evp_jwt_destroy(evp_jwt_t *jwt);

EVP_END_DECLS

#endif /* EVPIPE_JWT_H */
