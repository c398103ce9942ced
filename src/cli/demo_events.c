#define _POSIX_C_SOURCE 200809L
/* Realistic sample events for `evpipe demo`: a small shop app used on several
 * platforms, with sessions, signed-in and anonymous users, a purchase funnel,
 * a few late (offline) events, and some deliberately invalid events that show
 * the validator's errors. Deterministic for a given seed. */
#include <stdio.h>
#include <string.h>
#include "cli/demo.h"

static uint32_t next(uint64_t *s) {
  /* xorshift64*: fast, good enough for sample data, reproducible. */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

static unsigned pick(uint64_t *s, unsigned n) { return next(s) % n; }

static void iso_time(int64_t t, char *out, size_t cap) {
  time_t tt = (time_t)(t / 1000);
  struct tm tm;
  gmtime_r(&tt, &tm);
  size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, cap - n, ".%03dZ", (int)(t % 1000));
}

static const struct {
  const char *platform, *app_id, *os, *devices[3];
} plat[] = {
    {"ios", "shop-ios", "iOS", {"iPhone15,2", "iPhone14,7", "iPad13,1"}},
    {"android", "shop-android", "Android", {"Pixel 8", "SM-S911B", "moto g54"}},
    {"web", "shop-web", "macOS", {"Chrome 124", "Safari 17", "Firefox 125"}},
};
static const char *locales[] = {"en-US", "de-DE", "fr-FR", "es-ES", "ja-JP"};
static const char *zones[] = {"America/New_York", "Europe/Berlin", "Europe/Paris", "Europe/Madrid",
                              "Asia/Tokyo"};
static const char *screens[] = {"home", "search", "product", "cart", "account"};
static const char *queries[] = {"running shoes", "rain jacket", "espresso", "headphones", "tent"};

const char *const evp__demo_invalid_kinds[EVP__DEMO_INVALID_KINDS] = {
    "event_type not lower-case dotted", "app_id missing",          "platform not in the enum",
    "properties value is an object",    "unknown top-level field", "event_time not a date-time",
};

size_t evp__demo_event(uint64_t *seed, long i, int64_t now_ms, int invalid, char *buf, size_t cap) {
  unsigned p = pick(seed, 3), user = pick(seed, 250);
  int anonymous = pick(seed, 10) == 0;
  /* Most events happened in the last minutes; 3% come from devices that were offline for hours. */
  int64_t t = now_ms - (int64_t)pick(seed, 300000);
  if (pick(seed, 100) < 3) t -= 3600000LL * (1 + pick(seed, 5));
  char when[40];
  iso_time(t, when, sizeof when);

  const char *type;
  char props[256];
  unsigned step = pick(seed, 100);
  if (step < 25) {
    type = "app.opened";
    snprintf(props, sizeof props, "{\"cold_start\":%s}", pick(seed, 2) ? "true" : "false");
  } else if (step < 50) {
    type = "screen.viewed";
    snprintf(props, sizeof props, "{\"screen\":\"%s\",\"load_ms\":%u}", screens[pick(seed, 5)],
             80 + pick(seed, 900));
  } else if (step < 65) {
    type = "search.performed";
    snprintf(props, sizeof props, "{\"query\":\"%s\",\"results\":%u}", queries[pick(seed, 5)],
             pick(seed, 120));
  } else if (step < 82) {
    type = "product.viewed";
    snprintf(props, sizeof props, "{\"product_id\":\"p-%u\",\"price\":%u.%02u}",
             1000 + pick(seed, 400), 5 + pick(seed, 200), pick(seed, 100));
  } else if (step < 92) {
    type = "cart.item_added";
    snprintf(props, sizeof props, "{\"product_id\":\"p-%u\",\"quantity\":%u}",
             1000 + pick(seed, 400), 1 + pick(seed, 3));
  } else {
    type = "checkout.completed";
    snprintf(
        props, sizeof props,
        "{\"order_id\":\"o-%ld\",\"total\":%u.%02u,\"items\":%u,\"currency\":\"%s\",\"coupon\":%s}",
        100000 + i, 10 + pick(seed, 300), pick(seed, 100), 1 + pick(seed, 5),
        pick(seed, 3) ? "EUR" : "USD", pick(seed, 4) ? "null" : "\"WELCOME10\"");
  }
  unsigned loc = pick(seed, 5);
  char user_json[32];
  if (anonymous)
    snprintf(user_json, sizeof user_json, "null");
  else
    snprintf(user_json, sizeof user_json, "\"u-%u\"", user);

  /* The invalid variants break one rule each, as real client bugs do. */
  const char *type_out = type, *platform = plat[p].platform, *time_out = when;
  const char *extra = "";
  int with_app_id = 1;
  if (invalid == 0)
    type_out = "Checkout.Completed";
  else if (invalid == 1)
    with_app_id = 0;
  else if (invalid == 2)
    platform = "windows";
  else if (invalid == 3)
    snprintf(props, sizeof props, "{\"cart\":{\"items\":3}}");
  else if (invalid == 4)
    extra = ",\"userId\":\"u-1\"";
  else if (invalid == 5)
    time_out = "yesterday";

  int n = snprintf(
      buf, cap,
      "{\"event_type\":\"%s\",\"event_time\":\"%s\"%s%s%s,\"user_id\":%s,"
      "\"session_id\":\"s-%u-%ld\",\"platform\":\"%s\",\"app_version\":\"4.%u.%u\","
      "\"context\":{\"locale\":\"%s\",\"os\":\"%s\",\"device\":\"%s\",\"timezone\":\"%s\"},"
      "\"properties\":%s%s}",
      type_out, time_out, with_app_id ? ",\"app_id\":\"" : "", with_app_id ? plat[p].app_id : "",
      with_app_id ? "\"" : "", user_json, user, i / 40, platform, 1 + pick(seed, 3), pick(seed, 10),
      locales[loc], plat[p].os, plat[p].devices[pick(seed, 3)], zones[loc], props, extra);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
