/* URL checks shared by everything that makes requests (the SDK, the AWS
 * client): is it loopback (where plain http is allowed), and how to show it
 * in a message without its credentials. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "net/net.h"

int evp__url_is_loopback(const char *url) {
  CURLU *u = curl_url();
  char *host = NULL;
  int lo = 0;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    /* Only literal loopback addresses (and "localhost"): a name such as
     * "127.0.0.1.example" must not pass. */
    struct in_addr a4;
    struct in6_addr a6;
    size_t hl = strlen(host);
    if (!strcasecmp(host, "localhost")) {
      lo = 1;
    } else if (inet_pton(AF_INET, host, &a4) == 1) {
      lo = (ntohl(a4.s_addr) >> 24) == 127;
    } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
      host[hl - 1] = '\0';
      lo = inet_pton(AF_INET6, host + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
  }
  curl_free(host);
  curl_url_cleanup(u);
  return lo;
}

char *evp__url_for_messages(const char *url) {
  /* Messages reach logs, callbacks and stats: a password in the URL's
   * userinfo (or a token in its query) must not. Without a parse, say
   * nothing of the URL rather than risk it. */
  CURLU *u = curl_url();
  char *shown = NULL, *out = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &shown, 0) == CURLUE_OK)
    out = evp__strdup(shown);
  else
    out = evp__strdup("(unparsable URL)");
  curl_free(shown);
  curl_url_cleanup(u);
  return out;
}
