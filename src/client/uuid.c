/* UUIDv7 (RFC 9562 section 5.7) and RFC 3339 timestamps for filled events.
 * Random bits come from the crypto backend's CSPRNG (evp__random: OpenSSL's,
 * or the kernel's) through a per-thread pool, refilled 4 KiB at a time, so
 * evp_send does not pay a RAND_bytes or getentropy call per event. The
 * pool remembers the fork generation (fork.c) it was filled in: a forked
 * child never reuses the parent's bytes (which would duplicate ids). Not
 * getpid(): that is a system call per event (9% of evp_send's time). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>
#include "client/client_int.h"

#define POOL 4096

static _Thread_local struct {
  unsigned char b[POOL];
  size_t pos;
  unsigned gen; /* fork generation + 1 (0: never filled, so rnd fills it first) */
} pool;         /* zero: .tbss, not a 4 KiB initialised image in the library file */

static evp_err_t rnd(unsigned char *out, size_t n) {
  unsigned gen = evp__client_fork_generation() + 1;
  if (pool.pos + n > POOL || pool.gen != gen) {
    if (evp__random(pool.b, POOL) != EVP_OK) return EVP_ERR_INTERNAL;
    pool.pos = 0;
    pool.gen = gen;
  }
  memcpy(out, pool.b + pool.pos, n);
  /* Used bytes are cleared so a memory dump cannot replay past ids' bits. */
  evp__wipe(pool.b + pool.pos, n);
  pool.pos += n;
  return EVP_OK;
}

evp_err_t evp__client_uuid7(char out[37]) {
  uint64_t ms = (uint64_t)evp__wall_ms();
  unsigned char u[16];
  for (int i = 0; i < 6; i++) u[i] = (unsigned char)(ms >> (40 - 8 * i));
  if (rnd(u + 6, 10) != EVP_OK) return EVP_ERR_INTERNAL;
  u[6] = (unsigned char)(0x70 | (u[6] & 0x0F)); /* version 7 */
  u[8] = (unsigned char)(0x80 | (u[8] & 0x3F)); /* variant 10 */
  evp__uuid_text(u, out);
  return EVP_OK;
}

void evp__client_rfc3339_ms(int64_t now_ms, char out[25]) {
  /* gmtime_r is the slow part: cache the formatted second per thread. The
   * second is kept as int64_t and handed to gmtime_r as time_t, which is
   * 64-bit on every target CMakeLists.txt builds (_TIME_BITS=64 on 32-bit
   * glibc): event times past 2038-01-19 stay right. */
  static _Thread_local int64_t last = INT64_MIN;
  static _Thread_local char prefix[21];
  int64_t sec64 = now_ms / 1000;
  if (sec64 != last) {
    time_t sec = (time_t)sec64;
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S.", &tm);
    last = sec64;
  }
  memcpy(out, prefix, 20);
  unsigned ms = (unsigned)(now_ms % 1000);
  out[20] = (char)('0' + ms / 100);
  out[21] = (char)('0' + ms / 10 % 10);
  out[22] = (char)('0' + ms % 10);
  out[23] = 'Z';
  out[24] = '\0';
}

void evp__client_rfc3339_now(char out[25]) { evp__client_rfc3339_ms(evp__wall_ms(), out); }
