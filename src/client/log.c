/* Log messages go to the application's log callback only: an embedded
 * library must not write to the host's stderr. */
#include <stdarg.h>
#include <stdio.h>
#include "client/client_int.h"

void evp__client_log(evp_client_t *c, int level, const char *fmt, ...) {
  if (!c->conf->log_cb || level > c->conf->log_level) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  evp__client_call_log(c, level, buf); /* marks the thread as in a callback */
}
