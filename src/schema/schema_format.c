/* The "format" assertions. Each checker is strict about the RFC grammar it
 * names and looks at ASCII only (non-ASCII digits are never digits). */
#include <stdlib.h>
#include <string.h>
#include "schema/schema_int.h"

static const char *const evp__fmt_names[] = {
    [EVP__FMT_DATE_TIME] = "date-time",
    [EVP__FMT_DATE] = "date",
    [EVP__FMT_TIME] = "time",
    [EVP__FMT_EMAIL] = "email",
    [EVP__FMT_HOSTNAME] = "hostname",
    [EVP__FMT_IPV4] = "ipv4",
    [EVP__FMT_IPV6] = "ipv6",
    [EVP__FMT_URI] = "uri",
    [EVP__FMT_URI_REF] = "uri-reference",
    [EVP__FMT_UUID] = "uuid",
    [EVP__FMT_JSON_POINTER] = "json-pointer",
    [EVP__FMT_REL_JSON_POINTER] = "relative-json-pointer",
    [EVP__FMT_REGEX] = "regex",
};
#define EVP__NFMT ((int)(sizeof evp__fmt_names / sizeof evp__fmt_names[0]))

int evp__format_id(const char *name) {
  for (int i = 1; i < EVP__NFMT; i++)
    if (!strcmp(name, evp__fmt_names[i])) return i;
  return EVP__FMT_NONE;
}

const char *evp__format_name(int id) {
  return id > 0 && id < EVP__NFMT ? evp__fmt_names[id] : "unknown";
}

static int isdig(char c) { return c >= '0' && c <= '9'; }
static int isalph(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int ishex(char c) { return evp__hex_value((unsigned char)c) >= 0; }

/* n exact digits at s as a number, -1 when not all digits. */
static int digits(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdig(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int check_date(const char *s, size_t n) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (n != 10 || s[4] != '-' || s[7] != '-') return 0;
  int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
  if (y < 0 || m < 1 || m > 12 || d < 1) return 0;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= mdays[m - 1] + (m == 2 && leap);
}

/* RFC 3339 full-time; a leap second is accepted only at 23:59:60 UTC. */
static int check_time(const char *s, size_t n) {
  if (n < 9 || s[2] != ':' || s[5] != ':') return 0;
  int h = digits(s, 2), mi = digits(s + 3, 2), se = digits(s + 6, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60) return 0;
  size_t i = 8;
  if (i < n && s[i] == '.') {
    size_t j = ++i;
    while (i < n && isdig(s[i])) i++;
    if (i == j) return 0;
  }
  int oh = 0, om = 0, sign = 0;
  if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
  } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    sign = s[i] == '+' ? 1 : -1;
    oh = digits(s + i + 1, 2);
    om = digits(s + i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return 0;
  } else
    return 0;
  if (se == 60) {
    int utc = ((h * 60 + mi - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) return 0;
  }
  return 1;
}

static int check_date_time(const char *s, size_t n) {
  return n > 11 && (s[10] == 'T' || s[10] == 't') && check_date(s, 10) &&
         check_time(s + 11, n - 11);
}

static int check_ipv4(const char *s, size_t n) {
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t j = i;
    while (j < n && isdig(s[j]) && j - i < 4) j++;
    size_t len = j - i;
    if (len == 0 || len > 3 || (len > 1 && s[i] == '0')) return 0;
    if (digits(s + i, len) > 255) return 0;
    parts++;
    i = j;
    if (parts < 4) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  return i == n;
}

static int check_ipv6(const char *s, size_t n) {
  int groups = 0, dbl = 0;
  size_t i = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    dbl = 1;
    i = 2;
  } else if (n >= 1 && s[0] == ':')
    return 0;
  while (i < n) {
    size_t j = i;
    while (j < n && ishex(s[j])) j++;
    if (j < n && s[j] == '.') { /* trailing IPv4 counts as two groups */
      if (!check_ipv4(s + i, n - i)) return 0;
      groups += 2;
      i = n;
      break;
    }
    if (j == i || j - i > 4) return 0;
    groups++;
    i = j;
    if (i == n) break;
    if (s[i] != ':') return 0;
    i++;
    if (i < n && s[i] == ':') {
      if (dbl) return 0;
      dbl = 1;
      i++;
    } else if (i == n)
      return 0; /* a single trailing colon */
  }
  return dbl ? groups <= 7 : groups == 8;
}

static unsigned long adapt(unsigned long delta, unsigned long npoints, int first) {
  delta = first ? delta / 700 : delta / 2;
  delta += delta / npoints;
  unsigned long k = 0;
  while (delta > 455) { /* ((base - tmin) * tmax) / 2 */
    delta /= 35;
    k += 36;
  }
  return k + (36 * delta) / (delta + 38);
}

/* Whether an "xn--" label's payload decodes as Punycode (RFC 3492 6.2) to
 * code points that are not surrogates. IDNA's contextual rules are not
 * checked (see docs/schema-validation.md). */
static int punycode_ok(const char *s, size_t len) {
  const unsigned long maxint = 0x7fffffffUL;
  size_t b = 0, in;
  for (size_t j = 0; j < len; j++)
    if (s[j] == '-') b = j;
  for (size_t j = 0; j < b; j++)
    if ((unsigned char)s[j] >= 0x80) return 0;
  unsigned long n = 128, i = 0, bias = 72, out = b;
  if (len == 0) return 0;
  for (in = b > 0 ? b + 1 : 0; in < len;) {
    unsigned long oldi = i, w = 1;
    for (unsigned long k = 36;; k += 36) {
      if (in >= len) return 0;
      int c = s[in++];
      unsigned long d;
      if (c >= 'a' && c <= 'z')
        d = (unsigned long)(c - 'a');
      else if (c >= 'A' && c <= 'Z')
        d = (unsigned long)(c - 'A');
      else if (c >= '0' && c <= '9')
        d = (unsigned long)(c - '0' + 26);
      else
        return 0;
      if (d > (maxint - i) / w) return 0;
      i += d * w;
      unsigned long t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
      if (d < t) break;
      if (w > maxint / (36 - t)) return 0;
      w *= 36 - t;
    }
    bias = adapt(i - oldi, out + 1, oldi == 0);
    if (i / (out + 1) > maxint - n) return 0;
    n += i / (out + 1);
    i %= out + 1;
    if (n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF)) return 0;
    out++;
    i++;
  }
  return 1;
}

static int check_hostname(const char *s, size_t n) {
  if (n == 0 || n > 253) return 0;
  size_t i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && s[j] != '.') j++;
    size_t len = j - i;
    if (len == 0 || len > 63) return 0;
    for (size_t k = i; k < j; k++)
      if (!isalph(s[k]) && !isdig(s[k]) && s[k] != '-') return 0;
    if (s[i] == '-' || s[j - 1] == '-') return 0;
    if (len >= 4 && s[i + 2] == '-' && s[i + 3] == '-') {
      if ((s[i] != 'x' && s[i] != 'X') || (s[i + 1] != 'n' && s[i + 1] != 'N')) return 0;
      if (!punycode_ok(s + i + 4, len - 4)) return 0;
    }
    if (j == n) return 1;
    i = j + 1;
    if (i == n) return 0; /* trailing dot */
  }
  return 1;
}

static int check_email(const char *s, size_t n) {
  const char *at = NULL;
  size_t i = 0;
  if (n > 0 && s[0] == '"') { /* quoted local part */
    for (i = 1; i < n && s[i] != '"'; i++) {
      if (s[i] == '\\')
        i++;
      else if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
        return 0;
    }
    if (i >= n || i + 1 >= n || s[i + 1] != '@') return 0;
    at = s + i + 1;
  } else {
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
    for (i = 0; i < n && s[i] != '@'; i++) {
      char c = s[i];
      if (c == '.') {
        if (i == 0 || s[i - 1] == '.' || i + 1 >= n || s[i + 1] == '@') return 0;
      } else if (!isalph(c) && !isdig(c) && !strchr(atext, c))
        return 0;
    }
    if (i == 0 || i >= n) return 0;
    at = s + i;
  }
  const char *d = at + 1;
  size_t dn = n - (size_t)(d - s);
  if (dn >= 2 && d[0] == '[' && d[dn - 1] == ']') {
    if (dn > 7 && !memcmp(d + 1, "IPv6:", 5)) return check_ipv6(d + 6, dn - 7);
    return check_ipv4(d + 1, dn - 2);
  }
  return check_hostname(d, dn);
}

/* Branch-free over the 36 bytes: random hex digits would mispredict a
 * per-character test (this runs for every event's event_id). */
static int check_uuid(const char *s, size_t n) {
  static const char tmpl[] = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";
  if (n != 36) return 0;
  unsigned bad = 0;
  for (size_t i = 0; i < 36; i++) {
    unsigned char c = (unsigned char)s[i], lc = c | 0x20;
    unsigned hex = ((unsigned)(c - '0') < 10) | ((unsigned)(lc - 'a') < 6);
    bad |= tmpl[i] == '-' ? c != '-' : !hex;
  }
  return !bad;
}

static int check_json_pointer(const char *s, size_t n) {
  if (n == 0) return 1;
  if (s[0] != '/') return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '~' && (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))) return 0;
  return 1;
}

static int check_rel_json_pointer(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && isdig(s[i])) i++;
  if (i == 0 || (i > 1 && s[0] == '0')) return 0;
  if (i == n) return 1;
  if (s[i] == '#') return i + 1 == n;
  return check_json_pointer(s + i, n - i);
}

/* ------------------------------------------------------------ URIs */

static int unreserved(char c) {
  return isalph(c) || isdig(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
static int subdelim(char c) { return c && strchr("!$&'()*+,;=", c) != NULL; }

/* Characters allowed by @p extra plus unreserved, sub-delims and %XX. */
static int run_ok(const char *s, size_t n, const char *extra) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n) return 0;
      if (!ishex(s[i + 1]) || !ishex(s[i + 2])) return 0;
      i += 2;
    } else if (!unreserved(c) && !subdelim(c) && !(c && strchr(extra, c)))
      return 0;
  }
  return 1;
}

static int check_authority(const char *s, size_t n) {
  const char *at = memchr(s, '@', n);
  if (at) {
    if (memchr(at + 1, '@', n - (size_t)(at + 1 - s))) return 0;
    if (!run_ok(s, (size_t)(at - s), ":")) return 0;
    n -= (size_t)(at + 1 - s);
    s = at + 1;
  }
  size_t hl;
  if (n > 0 && s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    if (!rb) return 0;
    hl = (size_t)(rb - s) + 1;
    if (!check_ipv6(s + 1, hl - 2)) return 0;
  } else {
    hl = 0;
    while (hl < n && s[hl] != ':') hl++;
    if (!run_ok(s, hl, "")) return 0;
  }
  if (hl < n) {
    if (s[hl] != ':') return 0;
    for (size_t i = hl + 1; i < n; i++)
      if (!isdig(s[i])) return 0;
  }
  return 1;
}

static int check_uri_ref(const char *s, size_t n, int need_scheme) {
  size_t i = 0;
  int has_scheme = 0;
  if (n > 0 && isalph(s[0])) {
    size_t j = 1;
    while (j < n && (isalph(s[j]) || isdig(s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.')) j++;
    if (j < n && s[j] == ':') {
      has_scheme = 1;
      i = j + 1;
    }
  }
  if (need_scheme && !has_scheme) return 0;
  if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
    size_t j = i + 2;
    while (j < n && s[j] != '/' && s[j] != '?' && s[j] != '#') j++;
    if (!check_authority(s + i + 2, j - i - 2)) return 0;
    i = j;
  }
  size_t j = i;
  while (j < n && s[j] != '?' && s[j] != '#') j++;
  if (!run_ok(s + i, j - i, ":@/")) return 0;
  if (!has_scheme) { /* path-noscheme: no ':' in the first segment */
    size_t k = i;
    while (k < j && s[k] != '/') {
      if (s[k] == ':') return 0;
      k++;
    }
  }
  i = j;
  if (i < n && s[i] == '?') {
    j = ++i;
    while (j < n && s[j] != '#') j++;
    if (!run_ok(s + i, j - i, ":@/?")) return 0;
    i = j;
  }
  if (i < n && s[i] == '#') {
    i++;
    if (!run_ok(s + i, n - i, ":@/?")) return 0;
  }
  return 1;
}

int evp__format_check(int id, const char *s, size_t n) {
  switch (id) {
  case EVP__FMT_DATE_TIME: return check_date_time(s, n);
  case EVP__FMT_DATE: return check_date(s, n);
  case EVP__FMT_TIME: return check_time(s, n);
  case EVP__FMT_EMAIL: return check_email(s, n);
  case EVP__FMT_HOSTNAME: return check_hostname(s, n);
  case EVP__FMT_IPV4: return check_ipv4(s, n);
  case EVP__FMT_IPV6: return check_ipv6(s, n);
  case EVP__FMT_URI: return check_uri_ref(s, n, 1);
  case EVP__FMT_URI_REF: return check_uri_ref(s, n, 0);
  case EVP__FMT_UUID: return check_uuid(s, n);
  case EVP__FMT_JSON_POINTER: return check_json_pointer(s, n);
  case EVP__FMT_REL_JSON_POINTER: return check_rel_json_pointer(s, n);
  case EVP__FMT_REGEX: {
    pcre2_code *c = evp__regex_compile(s, n, NULL, NULL, NULL, 0);
    pcre2_code_free(c);
    return c != NULL;
  }
  default: return 1;
  }
}
