/* RFC 3339 date-time to microseconds (UTC), for timestamp columns (the lake
 * row builder and the door checks that must agree with it). Strict:
 * every field has its fixed width and range, the day must exist in its month,
 * and a time zone (Z or a numeric offset) is required, so the stored instant
 * is never a guess. */
#include "base/base.h"

static int digits(const char *s, size_t n, unsigned *v) {
  unsigned r = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    r = r * 10 + (unsigned)(s[i] - '0');
  }
  *v = r;
  return 0;
}

static unsigned days_in_month(unsigned y, unsigned m) {
  static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return 29;
  return dm[m - 1];
}

/* H. Hinnant's days_from_civil. */
int64_t evp__days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

int evp__rfc3339_to_us(const char *s, size_t n, int64_t *out) {
  unsigned y, mo, d, h, mi, sec;
  /* YYYY-MM-DDTHH:MM:SS is 19 bytes, then a fraction and the zone */
  if (n < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
      s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
    return -1;
  size_t p = 19;
  int64_t frac = 0;
  if (s[p] == '.') {
    size_t start = ++p;
    while (p < n && s[p] >= '0' && s[p] <= '9') {
      if (p - start < 6) frac = frac * 10 + (s[p] - '0');
      p++;
    }
    if (p == start) return -1;
    for (size_t k = p - start; k < 6; k++) frac *= 10;
  }
  if (p >= n) return -1;
  int64_t off = 0;
  if (s[p] == 'Z' || s[p] == 'z') {
    p++;
  } else if (s[p] == '+' || s[p] == '-') {
    unsigned oh, om;
    if (n - p != 6 || digits(s + p + 1, 2, &oh) || s[p + 3] != ':' || digits(s + p + 4, 2, &om) ||
        oh > 23 || om > 59)
      return -1;
    off = (int64_t)oh * 3600 + om * 60;
    if (s[p] == '-') off = -off;
    p += 6;
  } else {
    return -1;
  }
  if (p != n) return -1;
  /* A leap second (:60) is stored as the first instant of the next minute. */
  int64_t t = evp__days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + sec - off;
  *out = t * 1000000 + frac;
  return 0;
}
