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
 * Length of the unpadded base64url encoding of @p n bytes.
 */
EVP_API size_t evp_base64url_encoded_len(size_t n);

/**
 * Encode @p n bytes as base64url without padding (RFC 4648 section 5) and
 * NUL-terminate. @p out must hold evp_base64url_encoded_len(n) + 1 bytes.
 * Returns the number of characters written (without the NUL).
 * Ownership: borrows both buffers. Thread-safety: any thread.
 */
EVP_API size_t evp_base64url_encode(const void *in, size_t n, char *out);

/**
 * Decode unpadded base64url text. Padding ('='), whitespace, characters outside
 * the URL-safe alphabet, a length of 1 mod 4 and non-zero trailing bits are
 * all refused with EVP_ERR_BASE64. @p out must hold at least (len * 3) / 4
 * bytes; *outlen receives the decoded length.
 * Ownership: borrows. Thread-safety: any thread.
 */
EVP_API evp_err_t evp_base64url_decode(const char *in, size_t len,
                                       unsigned char *out, size_t *outlen);

/* ------------------------------------------------------------ HMAC */

/**
 * HMAC-SHA256 of @p msg under @p key into @p mac (32 bytes), via OpenSSL.
 * Any key length is accepted here; the JWT keyring enforces the minimum.
 * Ownership: borrows. Thread-safety: any thread.
 */
EVP_API evp_err_t evp_hmac_sha256(const void *key, size_t keylen,
                                  const void *msg, size_t msglen,
                                  unsigned char mac[32]);

/* ------------------------------------------------------------ keyring */

/** A set of HS256 keys selected by kid; one of them is the signing key. */
typedef struct evp_keyring_s evp_keyring_t;

/**
 * Create an empty keyring. Returns NULL on allocation failure.
 * Ownership: caller destroys with evp_keyring_destroy().
 */
EVP_API evp_keyring_t *evp_keyring_new(void);

/**
 * Add a key. @p kid identifies it in token headers (NULL: the key used for
 * tokens without a kid). The key bytes are copied; the caller may wipe its copy.
 * The first key added becomes the signing key; see evp_keyring_set_current().
 * Errors: EVP_ERR_KEY_TOO_SHORT (< 32 bytes), EVP_ERR_INVALID_ARG (kid longer
 * than EVP_JWT_MAX_KID_LEN, or already present), EVP_ERR_NOMEM.
 * Thread-safety: a keyring must not be modified while signers or verifiers use
 * it; to rotate keys at run time, build a new keyring and new verifier.
 */
EVP_API evp_err_t evp_keyring_add(evp_keyring_t *kr, const char *kid,
                                  const void *key, size_t keylen,
                                  char *errstr, size_t errstr_size);

/**
 * Make the key with @p kid (NULL: the kid-less key) the signing key, as when
 * a rotation promotes a new secret while the previous one still verifies.
 * Errors: EVP_ERR_JWT_UNKNOWN_KEY. Thread-safety: as evp_keyring_add().
 */
EVP_API evp_err_t evp_keyring_set_current(evp_keyring_t *kr, const char *kid);

/** Number of keys in the keyring. Thread-safety: any thread. */
EVP_API size_t evp_keyring_count(const evp_keyring_t *kr);

/**
 * Destroy the keyring, wiping every key (OPENSSL_cleanse). NULL is a no-op.
 * Signers and verifiers created from it must be destroyed first.
 */
EVP_API void evp_keyring_destroy(evp_keyring_t *kr);

/* ------------------------------------------------------------ clock */

/**
 * A clock: returns the current time in seconds since the Unix epoch.
 * Injected for tests and for hosts with their own time source.
 */
typedef int64_t (*evp_clock_fn)(void *opaque);

/* ------------------------------------------------------------ signing */

/** Signs HS256 tokens with a keyring's current key. */
typedef struct evp_jwt_signer_s evp_jwt_signer_t;

/**
 * Create a signer over @p kr (borrowed: it must outlive the signer).
 * Errors (NULL return, reason in errstr): no signing key, allocation failure.
 * Ownership: caller destroys with evp_jwt_signer_destroy().
 */
EVP_API evp_jwt_signer_t *evp_jwt_signer_new(const evp_keyring_t *kr,
                                             char *errstr, size_t errstr_size);

/** Set the iss claim (copied; NULL: no iss). Not thread-safe with signing. */
EVP_API evp_err_t evp_jwt_signer_set_issuer(evp_jwt_signer_t *s, const char *iss);

/** Set the lifetime in seconds (1 .. 31536000; default 1200). */
EVP_API evp_err_t evp_jwt_signer_set_ttl(evp_jwt_signer_t *s, int64_t ttl_s);

/** Set the clock (NULL: the system clock). */
EVP_API void evp_jwt_signer_set_clock(evp_jwt_signer_t *s, evp_clock_fn fn,
                                      void *opaque);

/**
 * Sign a token. Header {"alg":"HS256","typ":"JWT","kid":...} (kid omitted for
 * a kid-less key); claims iss (if set), sub, aud, iat, nbf (= iat), exp
 * (= iat + ttl) and jti (128 random bits, base64url), followed by the members
 * of @p claims_json, a JSON object text or NULL. Caller claims may not repeat
 * a registered claim name (EVP_ERR_INVALID_ARG) and must be valid JSON
 * (EVP_ERR_JSON).
 * @param sub, aud   required, UTF-8 strings (copied into the token).
 * @param tokenp     receives the NUL-terminated token; caller frees with evp_free().
 * Thread-safety: concurrent calls on one signer are safe once configured.
 */
EVP_API evp_err_t evp_jwt_sign(const evp_jwt_signer_t *s, const char *sub,
                               const char *aud, const char *claims_json,
                               char **tokenp, char *errstr, size_t errstr_size);

/** Destroy a signer. NULL is a no-op. */
EVP_API void evp_jwt_signer_destroy(evp_jwt_signer_t *s);

/* ------------------------------------------------------------ verification */

/** Verifies HS256 tokens against a keyring and a policy. */
typedef struct evp_jwt_verifier_s evp_jwt_verifier_t;

/** A verified token: its claims, read-only. */
typedef struct evp_jwt_s evp_jwt_t;

/**
 * Create a verifier over @p kr (borrowed: it must outlive the verifier).
 * Defaults: leeway 30 s, exp required, no audience or issuer check, tokens up
 * to 8192 bytes, system clock. Returns NULL on allocation failure.
 * Ownership: caller destroys with evp_jwt_verifier_destroy().
 */
EVP_API evp_jwt_verifier_t *evp_jwt_verifier_new(const evp_keyring_t *kr,
                                                 char *errstr, size_t errstr_size);

/** Require @p aud in the token's aud (a string or an array). NULL: no check. */
EVP_API evp_err_t evp_jwt_verifier_set_audience(evp_jwt_verifier_t *v, const char *aud);
/** Require iss to equal @p iss exactly. NULL: no check. */
EVP_API evp_err_t evp_jwt_verifier_set_issuer(evp_jwt_verifier_t *v, const char *iss);
/** Clock-skew leeway in seconds for exp/nbf/iat (0 .. 3600; default 30). */
EVP_API evp_err_t evp_jwt_verifier_set_leeway(evp_jwt_verifier_t *v, int64_t leeway_s);
/**
 * Cap the lifetime of accepted tokens: when @p max_s > 0, a token must carry
 * iat and exp, and exp - iat may exceed @p max_s by at most the leeway
 * (EVP_ERR_JWT_BAD_CLAIM otherwise). Set it to the issuer's TTL: a token that
 * lives longer was not minted by the issuer (a leaked key, a misconfigured
 * signer). 0 .. 31536000; default 0 (no cap).
 */
EVP_API evp_err_t evp_jwt_verifier_set_max_lifetime(evp_jwt_verifier_t *v, int64_t max_s);
/** Whether exp must be present (default 1). */
EVP_API void evp_jwt_verifier_set_require_exp(evp_jwt_verifier_t *v, int required);
/** Longest token accepted (64 .. 1048576; default 8192). */
EVP_API evp_err_t evp_jwt_verifier_set_max_len(evp_jwt_verifier_t *v, size_t max_len);
/** Set the clock (NULL: the system clock). */
EVP_API void evp_jwt_verifier_set_clock(evp_jwt_verifier_t *v, evp_clock_fn fn,
                                        void *opaque);

/**
 * Verify @p token (@p len bytes, need not be NUL-terminated).
 *
 * Checks, in order: size and exactly three base64url segments; header is a
 * JSON object without duplicate names, alg exactly "HS256", typ absent or
 * "JWT", kid known to the keyring; the signature, compared in constant time;
 * then the claims (a JSON object without duplicate names): exp, nbf and iat
 * against the clock with the leeway, iss and aud when configured.
 *
 * @param jwtp  if not NULL, receives the verified token on success (caller
 *              destroys with evp_jwt_destroy()); set to NULL on any failure,
 *              so nothing partial is ever returned.
 * @return EVP_OK or the specific EVP_ERR_JWT_* / EVP_ERR_TOO_LARGE code.
 * Thread-safety: concurrent calls on one verifier are safe once configured.
 */
EVP_API evp_err_t evp_jwt_verify(const evp_jwt_verifier_t *v, const char *token,
                                 size_t len, evp_jwt_t **jwtp,
                                 char *errstr, size_t errstr_size);

/** Destroy a verifier. NULL is a no-op. */
EVP_API void evp_jwt_verifier_destroy(evp_jwt_verifier_t *v);

/**
 * The verified claims as a JSON object text, exactly as signed.
 * Ownership: borrowed, valid until evp_jwt_destroy().
 */
EVP_API const char *evp_jwt_claims_json(const evp_jwt_t *jwt);

/**
 * A string claim (e.g. "sub", "iss", "jti", or a caller claim), or NULL when
 * absent or not a string. Ownership: borrowed, valid until evp_jwt_destroy().
 * Thread-safety: not safe concurrently on the same evp_jwt_t.
 */
EVP_API const char *evp_jwt_claim_str(const evp_jwt_t *jwt, const char *name);

/**
 * A numeric claim (e.g. "exp") truncated to an integer. Returns EVP_OK, or
 * EVP_ERR_JWT_BAD_CLAIM when absent or not a number.
 */
EVP_API evp_err_t evp_jwt_claim_int(const evp_jwt_t *jwt, const char *name,
                                    int64_t *value);

/** The kid of the key that verified the token, or NULL for the kid-less key. */
EVP_API const char *evp_jwt_kid(const evp_jwt_t *jwt);

/** Destroy a verified token. NULL is a no-op. */
EVP_API void evp_jwt_destroy(evp_jwt_t *jwt);

EVP_END_DECLS

#endif /* EVPIPE_JWT_H */
