/* A fake of the one HTTP transport (src/net/transport.h) for the suites:
 * no server, no socket. Every request on its one slot is answered with the
 * canned response set by mock_transport_answer (header lines, then the body
 * fed in chunks), through the same response functions the libcurl transport
 * uses, so body limits and header capture apply as in production; or it is
 * never answered (mock_transport_stall) until aborted. Its poll waits on a
 * condition variable that the transport's wakeup signals.
 *
 *   mock_transport_t *m;
 *   evp__transport_t *t = mock_transport_new(&m, NULL);
 *   static const char *const hdrs[] = {"HTTP/1.1 200 OK\r\n", "X-Id: 1\r\n", NULL};
 *   mock_transport_answer(m, hdrs, "{}", 0);
 *   ... hand t to the code under test, or call evp__transport_* ...
 *   evp__transport_free(t); // frees m too
 *
 * Thread-safety: the transport is used by one thread; mock_transport_*
 * calls and the wakeup may come from others. */
#ifndef EVP_TESTS_MOCK_TRANSPORT_H
#define EVP_TESTS_MOCK_TRANSPORT_H
#include <stddef.h>
#include "net/transport.h"
typedef struct mock_transport mock_transport_t;
/* A one-slot transport over a new fake (*out). @p freed (may be NULL) is set
 * to 1 when the transport frees the fake. NULL when out of memory. */
evp__transport_t *mock_transport_new(mock_transport_t **out, int *freed);
/* The answer to every later request: HTTP @p status, the header lines
 * (NULL-terminated list, borrowed until replaced), and @p body (borrowed;
 * NULL: none) fed @p chunk bytes at a time (0: all at once). */
void mock_transport_answer(mock_transport_t *m, int status, const char *const *lines,
                           const char *body, size_t chunk);
/* 1: leave requests unanswered until aborted; 0: answer them. */
void mock_transport_stall(mock_transport_t *m, int on);
/* Requests started so far; whether one is in flight now. */
int mock_transport_requests(mock_transport_t *m);
int mock_transport_busy(mock_transport_t *m);
/* Copies of the last request's URL and body ("" when none), valid until
 * the next request. */
const char *mock_transport_last_url(mock_transport_t *m);
const char *mock_transport_last_body(mock_transport_t *m);
#endif /* EVP_TESTS_MOCK_TRANSPORT_H */
