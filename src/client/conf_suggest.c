/* "Did you mean": the property names of the table closest to a name
 * evp_conf_set does not know, as git suggests commands. A name is close when
 * it is a typo away (a few edits, '_' and '-' read as '.') or, failing that,
 * when it shares the most words with it (batch.size: batch.max.events).
 * Nothing close: no suggestion, rather than a random one. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "client/conf_int.h"

#define MAX_NAME 64   /* longer names are compared by words only */
#define MAX_SUGGEST 4 /* names in one suggestion */
#define MIN_WORD 3    /* shorter words ("no", "ms") say too little to match on */

static void normalize(const char *in, char *out, size_t cap) {
  size_t i = 0;
  for (; in[i] && i + 1 < cap; i++) {
    char ch = (char)tolower((unsigned char)in[i]);
    out[i] = ch == '_' || ch == '-' ? '.' : ch;
  }
  out[i] = '\0';
}

/* Levenshtein distance of two strings of at most MAX_NAME bytes. */
static size_t edits(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), row[MAX_NAME + 1];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* Does the '.'-separated @p name hold word w[0..n) (or a word w begins,
 * "event" for "events")? */
static int has_word(const char *name, const char *w, size_t n) {
  for (const char *p = name; *p;) {
    size_t len = strcspn(p, ".");
    if (len >= n && !strncmp(p, w, n) && (len == n || n >= MIN_WORD + 1)) return 1;
    p += len;
    if (*p) p++;
  }
  return 0;
}

static size_t shared_words(const char *unknown, const char *name) {
  size_t n = 0;
  for (const char *p = unknown; *p;) {
    size_t len = strcspn(p, ".");
    if (len >= MIN_WORD && has_word(name, p, len)) n++;
    p += len;
    if (*p) p++;
  }
  return n;
}

/* Score of each property: lower is closer; 0 means not close at all. Edit
 * matches rank before word matches. */
static size_t score(const char *unknown, const char *name) {
  size_t len = strlen(unknown);
  if (len <= MAX_NAME && strlen(name) <= MAX_NAME) {
    size_t d = edits(unknown, name), allowed = len / 4 < 1 ? 1 : len / 4 > 3 ? 3 : len / 4;
    if (d <= allowed) return 1 + d; /* 1..4 */
  }
  size_t w = shared_words(unknown, name);
  return w ? 100 - w : 0; /* more shared words: closer */
}

void evp__conf_suggest(const char *unknown, char *out, size_t cap) {
  char u[256];
  normalize(unknown, u, sizeof u);
  size_t best = 0;
  for (size_t i = 0; i < evp__conf_nprops; i++) {
    size_t s = score(u, evp__conf_props[i].name);
    if (s && (!best || s < best)) best = s;
  }
  out[0] = '\0';
  if (!best || cap == 0) return;
  const char *pick[MAX_SUGGEST];
  size_t n = 0;
  for (size_t i = 0; i < evp__conf_nprops && n < MAX_SUGGEST; i++)
    if (score(u, evp__conf_props[i].name) == best) pick[n++] = evp__conf_props[i].name;
  size_t at = (size_t)snprintf(out, cap, "; did you mean ");
  for (size_t k = 0; k < n && at < cap; k++)
    at += (size_t)snprintf(out + at, cap - at, "%s%s",
                           k == 0       ? ""
                           : k + 1 == n ? " or "
                                        : ", ",
                           pick[k]);
  if (at < cap) snprintf(out + at, cap - at, "?");
}
