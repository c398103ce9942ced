package evpipe

// #include <stdlib.h>
// #include <evpipe/error.h>
import "C"

import "fmt"

// ErrorCode is one of libevpipe's error codes (evp_err_t). The values are
// the C library's: the constants below are defined from the C header's enum
// constants, and their names come from evp_err2name() at run time.
// An ErrorCode is also an error, so it can be a target of errors.Is:
//
//	if errors.Is(err, evpipe.ErrQueueFull) { ... }
type ErrorCode int

// The library's error codes (include/evpipe/error.h). OK is not an error:
// functions return nil instead.
const (
	ErrInvalidArg        ErrorCode = C.EVP_ERR_INVALID_ARG
	ErrNomem             ErrorCode = C.EVP_ERR_NOMEM
	ErrIO                ErrorCode = C.EVP_ERR_IO
	ErrTooLarge          ErrorCode = C.EVP_ERR_TOO_LARGE
	ErrUnsupported       ErrorCode = C.EVP_ERR_UNSUPPORTED
	ErrInternal          ErrorCode = C.EVP_ERR_INTERNAL
	ErrKeyTooShort       ErrorCode = C.EVP_ERR_KEY_TOO_SHORT
	ErrBase64            ErrorCode = C.EVP_ERR_BASE64
	ErrJwtMalformed      ErrorCode = C.EVP_ERR_JWT_MALFORMED
	ErrJwtBadAlg         ErrorCode = C.EVP_ERR_JWT_BAD_ALG
	ErrJwtBadTyp         ErrorCode = C.EVP_ERR_JWT_BAD_TYP
	ErrJwtDuplicate      ErrorCode = C.EVP_ERR_JWT_DUPLICATE
	ErrJwtBadSignature   ErrorCode = C.EVP_ERR_JWT_BAD_SIGNATURE
	ErrJwtUnknownKey     ErrorCode = C.EVP_ERR_JWT_UNKNOWN_KEY
	ErrJwtExpired        ErrorCode = C.EVP_ERR_JWT_EXPIRED
	ErrJwtNotYetValid    ErrorCode = C.EVP_ERR_JWT_NOT_YET_VALID
	ErrJwtIssuedInFuture ErrorCode = C.EVP_ERR_JWT_ISSUED_IN_FUTURE
	ErrJwtBadAudience    ErrorCode = C.EVP_ERR_JWT_BAD_AUDIENCE
	ErrJwtBadIssuer      ErrorCode = C.EVP_ERR_JWT_BAD_ISSUER
	ErrJwtBadClaim       ErrorCode = C.EVP_ERR_JWT_BAD_CLAIM
	ErrJSON              ErrorCode = C.EVP_ERR_JSON
	ErrTooDeep           ErrorCode = C.EVP_ERR_TOO_DEEP
	ErrSchemaInvalid     ErrorCode = C.EVP_ERR_SCHEMA_INVALID
	ErrSchemaRef         ErrorCode = C.EVP_ERR_SCHEMA_REF
	ErrSchemaRegex       ErrorCode = C.EVP_ERR_SCHEMA_REGEX
	ErrInvalidEvent      ErrorCode = C.EVP_ERR_INVALID_EVENT
	ErrConfUnknown       ErrorCode = C.EVP_ERR_CONF_UNKNOWN
	ErrConfInvalid       ErrorCode = C.EVP_ERR_CONF_INVALID
	ErrQueueFull         ErrorCode = C.EVP_ERR_QUEUE_FULL
	ErrTimedOut          ErrorCode = C.EVP_ERR_TIMED_OUT
	ErrState             ErrorCode = C.EVP_ERR_STATE
	ErrTransport         ErrorCode = C.EVP_ERR_TRANSPORT
	ErrHTTP              ErrorCode = C.EVP_ERR_HTTP
	ErrAuth              ErrorCode = C.EVP_ERR_AUTH
	ErrPermission        ErrorCode = C.EVP_ERR_PERMISSION
)

// String is the C enum constant's name from evp_err2name(), e.g.
// "EVP_ERR_QUEUE_FULL" ("EVP_ERR_UNKNOWN" for a code this library does not
// know).
func (c ErrorCode) String() string { return C.GoString(C.evp_err2name(C.evp_err_t(c))) }

// Description is the library's text for the code (evp_err2str()).
func (c ErrorCode) Description() string { return C.GoString(C.evp_err2str(C.evp_err_t(c))) }

// Error makes an ErrorCode usable as a sentinel error: "EVP_ERR_QUEUE_FULL:
// <description>".
func (c ErrorCode) Error() string { return c.String() + ": " + c.Description() }

// Error is what the client's functions return when the library refuses
// something: the code and the library's reason (for a refused event, the
// JSON path and why; for a bad property, its name). errors.Is(err, code)
// is true for its Code.
type Error struct {
	Code   ErrorCode
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Code.Error()
	}
	return fmt.Sprintf("%s: %s", e.Code.String(), e.Reason)
}

// Unwrap gives the code, so errors.Is(err, ErrQueueFull) works.
func (e *Error) Unwrap() error { return e.Code }

// ConnectionError is a problem with the service rather than one event
// (the library's error callback, evp_error_cb_t): bad credentials
// (ErrAuth, Retrying false: every pending event has been reported failed)
// or an unreachable server (ErrTransport, Retrying true: events stay queued
// and are retried). Received from Client.Errors().
type ConnectionError struct {
	Err      *Error
	Retrying bool
}

func (e *ConnectionError) Error() string {
	if e.Retrying {
		return "evpipe: service unreachable, retrying: " + e.Err.Error()
	}
	return "evpipe: service refused the client: " + e.Err.Error()
}

// Unwrap gives the *Error (and through it the code).
func (e *ConnectionError) Unwrap() error { return e.Err }

// newError builds an *Error from a code and a C reason (which may be NULL
// or empty).
func newError(code C.evp_err_t, reason *C.char) *Error {
	e := &Error{Code: ErrorCode(code)}
	if reason != nil {
		e.Reason = C.GoString(reason)
	}
	return e
}
