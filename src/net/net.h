/* The network layer: libcurl set up once per process, and the URL checks
 * every requester shares. Nothing here is public ABI. */
#ifndef EVP_NET_NET_H
#define EVP_NET_NET_H

#include "base/base.h"

/* curl_global_init, once per process (curl_once.c); 0 or -1 when it failed. */
int evp__curl_init_once(void);

/* Is this URL's host a loopback address (localhost, 127/8, ::1)? Only
 * literal addresses and "localhost" count (url.c). */
int evp__url_is_loopback(const char *url);
/* @p url as error messages show it: without userinfo, query or fragment
 * (they may hold credentials). Caller frees; NULL when out of memory. */
char *evp__url_for_messages(const char *url);

#endif /* EVP_NET_NET_H */
