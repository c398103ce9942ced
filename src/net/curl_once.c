/* libcurl's global initialisation, once per process for every part of the
 * library that makes HTTP requests (SDK sender, Lambda runtime, AWS client):
 * curl_global_init is not thread-safe and must not run twice concurrently. */
#include <pthread.h>
#include <curl/curl.h>
#include "base/base.h"
#include "net/net.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_rc;
static void global_init(void) { g_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int evp__curl_init_once(void) {
  pthread_once(&g_once, global_init);
  return g_rc == CURLE_OK ? 0 : -1;
}
