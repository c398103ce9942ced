/* Connection admission and deadlines of the HTTP front (libmicrohttpd).
 *
 * libmicrohttpd 0.9.75 accepts past its connection limit and then resets the
 * connection, and its only timer is an idle timer that every received byte
 * restarts, so a client sending one header line every few seconds holds a
 * slot (a thread) for ever. So the listening socket is ours: one thread
 * accepts only while fewer than the limit are open (the others wait in the
 * kernel's listen backlog), refuses an address past its own limit, and hands
 * each connection to the daemon (MHD_add_connection). A watchdog thread
 * closes a connection whose request header is not complete within the header
 * deadline, or whose body arrives slower than the minimum rate. */
#ifndef EVP_LOCAL_HTTP_CONNS_H
#define EVP_LOCAL_HTTP_CONNS_H

#include <stddef.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "local/local.h"

typedef struct evp__conns evp__conns_t;
typedef struct evp__conn evp__conn_t;

/* Admission and deadlines for connections to the sockets of @p lis (taken,
 * also on error; bound by evp__listen_open). Nothing is accepted before
 * evp__conns_run(). */
evp_err_t evp__conns_new(evp__listener_t *lis, const evp__local_opts_t *o, evp__metrics_t *m,
                         evp__conns_t **out, char *errstr, size_t errstr_size);
/* Start accepting into @p d (started with MHD_USE_NO_LISTEN_SOCKET and
 * evp__conns_notify as MHD_OPTION_NOTIFY_CONNECTION) and the watchdog. */
evp_err_t evp__conns_run(evp__conns_t *cs, struct MHD_Daemon *d, char *errstr, size_t errstr_size);
/* Stop accepting and close the listening sockets (open connections go on). */
void evp__conns_stop_accepting(evp__conns_t *cs);
/* After MHD_stop_daemon: stop the watchdog, write pending log summaries, free. */
void evp__conns_free(evp__conns_t *cs);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls: the evp__conns_t). */
void evp__conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* The connection's record (NULL if it has none). Called from the
 * connection's own thread, like the functions below. */
evp__conn_t *evp__conn_of(struct MHD_Connection *c);
/* The request header is complete: the body deadline starts. */
void evp__conn_headers_done(evp__conns_t *cs, evp__conn_t *cn);
/* @p n body bytes arrived. */
void evp__conn_body(evp__conns_t *cs, evp__conn_t *cn, size_t n);
/* The body is complete: no deadline while the handler works. */
void evp__conn_body_done(evp__conns_t *cs, evp__conn_t *cn);
/* The response is sent: the next request's header deadline starts. */
void evp__conn_request_done(evp__conns_t *cs, evp__conn_t *cn);

/* The request target as libmicrohttpd saw it (MHD_OPTION_URI_LOG_CALLBACK,
 * before any decoding), and whether decoding produced a NUL. */
void evp__conn_set_target(evp__conn_t *cn, const char *uri);
void evp__conn_set_nul_in_target(evp__conn_t *cn);
/* Whether the target held a NUL byte, raw or %00. libmicrohttpd cuts the
 * request line at a raw NUL and finds the version after it, so a NUL shows
 * as a target that does not end where the version begins (@p version: the
 * pointer it passes to the request callback). */
int evp__conn_nul_in_target(const evp__conn_t *cn, const char *version);

#endif /* EVP_LOCAL_HTTP_CONNS_H */
