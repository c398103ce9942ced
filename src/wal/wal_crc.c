/* CRC-32C (Castagnoli) for the log's records. Every logged byte is
 * checksummed twice (written by a request thread, verified by the batcher),
 * so this runs at memory speed where the CPU has a CRC-32C instruction
 * (SSE 4.2 on x86-64, chosen at run time), and slicing-by-8 elsewhere. */
#include <pthread.h>
#include <string.h>
#include "wal/wal_format.h"

#define POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? c >> 1 ^ POLY : c >> 1;
    tab[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) tab[t][i] = tab[t - 1][i] >> 8 ^ tab[0][tab[t - 1][i] & 0xff];
}

uint32_t evp__crc32c_sw(uint32_t crc, const unsigned char *p, size_t n) {
  pthread_once(&tab_once, tab_init);
  uint32_t c = ~crc;
  while (n >= 8) {
    /* little-endian assembly, so the result is the same on any host */
    uint32_t lo =
        c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    c = tab[7][lo & 0xff] ^ tab[6][lo >> 8 & 0xff] ^ tab[5][lo >> 16 & 0xff] ^ tab[4][lo >> 24] ^
        tab[3][p[4]] ^ tab[2][p[5]] ^ tab[1][p[6]] ^ tab[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n--) c = c >> 8 ^ tab[0][(c ^ *p++) & 0xff];
  return ~c;
}

/* EVP_NO_SIMD (-DEVPIPE_NO_SIMD=ON): slicing-by-8 on x86-64 too, as on other CPUs. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(EVP_NO_SIMD)
#include <cpuid.h>
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
                                                         size_t n) {
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}

static int hw;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
/* CPUID leaf 1, ECX bit 20 directly: __builtin_cpu_supports links
 * libgcc's whole CPU model table (~3 KB of the client library, whose size
 * is a goal: docs/embedded.md). */
static void hw_init(void) {
  unsigned a, b, c, d;
  hw = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) != 0;
}

static int have_hw(void) {
  pthread_once(&hw_once, hw_init);
  return hw;
}

int evp__crc32c_hw_available(void) { return have_hw(); }

uint32_t evp__crc32c(uint32_t crc, const unsigned char *p, size_t n) {
  return have_hw() ? crc_hw(crc, p, n) : evp__crc32c_sw(crc, p, n);
}
#else
int evp__crc32c_hw_available(void) { return 0; }
uint32_t evp__crc32c(uint32_t crc, const unsigned char *p, size_t n) {
  return evp__crc32c_sw(crc, p, n);
}
#endif
