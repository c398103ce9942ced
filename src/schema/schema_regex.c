/* ECMA-262 regular expressions on top of PCRE2. The pattern is rewritten
 * where the two dialects differ in ways that matter for validation, then
 * compiled in UTF mode (and JIT-compiled when PCRE2 supports it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schema/schema_int.h"

/* ECMA-262 WhiteSpace and LineTerminator: what \s means there. PCRE2 without
 * PCRE2_UCP would match only ASCII white space. */
#define EVP__ECMA_SPACE \
  "\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"

/* Letters that may follow a backslash in an ECMA-262 (Unicode mode)
 * pattern. PCRE2 gives meaning to others (\a, \A, \z, \Q, \K...), which
 * ECMA-262 refuses, so they are refused here too. */
static int ecma_letter_escape(char e) { return e && strchr("dDwWsSbBfnrtvcxupPk", e) != NULL; }

/* JavaScript's long Unicode property names -> PCRE2's short ones. */
static const char *const evp__uprops[][2] = {
    {"Letter", "L"},
    {"Cased_Letter", "L&"},
    {"Uppercase_Letter", "Lu"},
    {"Lowercase_Letter", "Ll"},
    {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"},
    {"Other_Letter", "Lo"},
    {"Mark", "M"},
    {"Nonspacing_Mark", "Mn"},
    {"Spacing_Mark", "Mc"},
    {"Enclosing_Mark", "Me"},
    {"Number", "N"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Letter_Number", "Nl"},
    {"Other_Number", "No"},
    {"Punctuation", "P"},
    {"Connector_Punctuation", "Pc"},
    {"Dash_Punctuation", "Pd"},
    {"Open_Punctuation", "Ps"},
    {"Close_Punctuation", "Pe"},
    {"Initial_Punctuation", "Pi"},
    {"Final_Punctuation", "Pf"},
    {"Other_Punctuation", "Po"},
    {"Symbol", "S"},
    {"Math_Symbol", "Sm"},
    {"Currency_Symbol", "Sc"},
    {"Modifier_Symbol", "Sk"},
    {"Other_Symbol", "So"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Line_Separator", "Zl"},
    {"Paragraph_Separator", "Zp"},
    {"Other", "C"},
    {"Control", "Cc"},
    {"Format", "Cf"},
    {"Surrogate", "Cs"},
    {"Private_Use", "Co"},
    {"Unassigned", "Cn"},
};

/* Rewrite the body of \p{...} at @p name (n bytes) into @p o; returns the
 * bytes written. "gc=X"/"General_Category=X"/"sc=X"/"Script=X" drop the
 * prefix (PCRE2 takes script names bare). */
static size_t uprop(const char *name, size_t n, char *o) {
  static const char *const prefixes[] = {"General_Category=", "gc=", "Script=", "sc="};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    size_t k = strlen(prefixes[i]);
    if (n > k && !memcmp(name, prefixes[i], k)) {
      name += k;
      n -= k;
      break;
    }
  }
  for (size_t i = 0; i < sizeof evp__uprops / sizeof evp__uprops[0]; i++)
    if (strlen(evp__uprops[i][0]) == n && !memcmp(evp__uprops[i][0], name, n)) {
      size_t k = strlen(evp__uprops[i][1]);
      memcpy(o, evp__uprops[i][1], k);
      return k;
    }
  memcpy(o, name, n);
  return n;
}

/* Returns the PCRE2 spelling of @p src, or NULL with *bad set when the
 * pattern uses syntax ECMA-262 does not have (NULL with *bad == NULL: ENOMEM). */
static char *translate(const char *src, size_t len, size_t *outlen, const char **bad) {
  *bad = NULL;
  static const char sp[] = EVP__ECMA_SPACE;
  size_t cap = len * (sizeof sp + 4) + 32;
  char *out = malloc(cap), *o = out;
  if (!out) return NULL;
  int in_class = 0;
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '\\' && i + 1 < len) {
      char e = src[i + 1];
      if (((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) && !ecma_letter_escape(e)) {
        free(out);
        *bad = "escape not valid in ECMA-262";
        return NULL;
      }
      if ((e == 'p' || e == 'P') && i + 2 < len && src[i + 2] == '{') {
        const char *close = memchr(src + i + 3, '}', len - i - 3);
        if (close) {
          *o++ = '\\';
          *o++ = e;
          *o++ = '{';
          o += uprop(src + i + 3, (size_t)(close - (src + i + 3)), o);
          *o++ = '}';
          i = (size_t)(close - src);
          continue;
        }
      }
      if (e == 's' || (e == 'S' && !in_class)) {
        /* \S inside a class has no PCRE2 spelling; it keeps PCRE2's meaning. */
        o += sprintf(o, in_class ? "%s" : (e == 's' ? "[%s]" : "[^%s]"), sp);
      } else {
        *o++ = c;
        *o++ = e;
      }
      i++;
      continue;
    }
    if (!in_class && c == '[') {
      /* ECMA: "[]" matches nothing and "[^]" matches anything; PCRE2 would
       * read the ']' as a literal member. */
      if (i + 1 < len && src[i + 1] == ']') {
        memcpy(o, "(?!)", 4);
        o += 4;
        i += 1;
        continue;
      }
      if (i + 2 < len && src[i + 1] == '^' && src[i + 2] == ']') {
        o += sprintf(o, "(?s:.)");
        i += 2;
        continue;
      }
      in_class = 1;
      *o++ = c;
      if (i + 1 < len && src[i + 1] == '^') *o++ = src[++i];
      continue;
    }
    if (!in_class && c == '(' && i + 1 < len && src[i + 1] == '?') {
      /* ECMA-262 groups: (?: (?= (?! (?<= (?<! (?<name> -- not PCRE2's
       * inline flags, comments, (?P...), (?|...), (?>...) and the like. */
      const char *g = src + i + 2;
      size_t left = len - i - 2;
      int okg = left >= 1 && (g[0] == ':' || g[0] == '=' || g[0] == '!');
      if (!okg && left >= 2 && g[0] == '<')
        okg = g[1] == '=' || g[1] == '!' || (g[1] >= 'A' && g[1] <= 'Z') ||
              (g[1] >= 'a' && g[1] <= 'z') || g[1] == '_' || g[1] == '$';
      if (!okg) {
        free(out);
        *bad = "group syntax not valid in ECMA-262";
        return NULL;
      }
    }
    if (in_class && c == ']') in_class = 0;
    *o++ = c;
  }
  *outlen = (size_t)(o - out); /* counted: a NUL in the pattern is a character to match */
  *o = '\0';
  return out;
}

pcre2_code *evp__regex_compile(const char *src, size_t len, int *jit, evp_err_t *err, char *errbuf,
                               size_t errsize) {
  evp_err_t dummy;
  if (!err) err = &dummy;
  const char *bad;
  size_t patlen = 0;
  char *pat = translate(src, len, &patlen, &bad);
  if (!pat) {
    *err = evp__seterr(errbuf, errsize, bad ? EVP_ERR_SCHEMA_REGEX : EVP_ERR_NOMEM, "%s",
                       bad ? bad : "out of memory");
    return NULL;
  }
  pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
  if (!cc) {
    free(pat);
    *err = evp__seterr(errbuf, errsize, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
  pcre2_set_max_pattern_length(cc, 65536);
  pcre2_set_parens_nest_limit(cc, 200);
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *code = pcre2_compile(
      (PCRE2_SPTR)pat, patlen,
      PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_NEVER_BACKSLASH_C, &ec, &eo, cc);
  pcre2_compile_context_free(cc);
  free(pat);
  if (!code) {
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(ec, msg, sizeof msg) < 0) strcpy((char *)msg, "invalid pattern");
    *err = evp__seterr(errbuf, errsize,
                       ec == PCRE2_ERROR_HEAP_FAILED ? EVP_ERR_NOMEM : EVP_ERR_SCHEMA_REGEX, "%s",
                       (const char *)msg);
    return NULL;
  }
  /* JIT makes matching several times faster; without it the interpreter
   * gives the same answers. */
  int j = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  if (jit) *jit = j;
  return code;
}
