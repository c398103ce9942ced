/* The listening sockets of `evpipe local` (--listen HOST:PORT), bound before
 * anything else is created so that a port in use or a wrong address stops
 * the command before it writes a data directory or shows credentials.
 *
 * A host name is resolved with getaddrinfo and every address it resolves to
 * is bound (as nginx does for `listen name:port`), on one port: `localhost`
 * is 127.0.0.1 and ::1 on many systems, and clients differ in which one they
 * try (curl tries both, Node.js >= 17 and Java often only the first, which
 * may be ::1). Binding only the first (Go's net.Listen) would leave some of
 * them with "connection refused". An address of a family this machine does
 * not have (IPv6 disabled) is skipped when another one binds. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/base.h"
#include "local/local.h"

#define PORT0_TRIES 10 /* port 0 on several addresses: a port free on all of them */

static const char listen_example[] =
    "write HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)";

evp_err_t evp__listen_parse(const char *spec, char *host, size_t host_cap, uint16_t *port,
                            int *bracketed, char *errstr, size_t errstr_size) {
  size_t sl = strlen(spec);
  if (spec[0] == '[' && sl > 0 && spec[sl - 1] == ']')
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "--listen %s: no port; write %s:8080 (port 0 picks a free one)", spec, spec);
  const char *colon = strrchr(spec, ':');
  if (!colon)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "--listen %s: no port; %s", spec,
                       listen_example);
  size_t hl = (size_t)(colon - spec);
  const char *h = spec;
  *bracketed = 0;
  if (hl == 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "--listen %s: no host; write 127.0.0.1%s for this machine only, or "
                       "0.0.0.0%s for every IPv4 interface",
                       spec, colon, colon);
  if (h[0] == '[') {
    if (hl < 3 || h[hl - 1] != ']')
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "--listen %s: an IPv6 address goes between [ and ]; write e.g. "
                         "[::1]:8080",
                         spec);
    h++;
    hl -= 2;
    *bracketed = 1;
    /* The URL keeps the brackets: http://[127.0.0.1]:8080 is no URL. */
    if (!memchr(h, ':', hl))
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "--listen %s: only an IPv6 address goes between [ and ]; write %.*s%s",
                         spec, (int)hl, h, colon);
  } else if (memchr(h, ':', hl)) {
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "--listen %s: an IPv6 address needs brackets; write [%.*s]%s", spec, (int)hl,
                       h, colon);
  }
  if (hl >= host_cap)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "--listen %s: the host is longer than %zu bytes; %s", spec, host_cap - 1,
                       listen_example);
  long long p;
  const char *ps = colon + 1;
  int digits = *ps != '\0' && strspn(ps, "0123456789") == strlen(ps) && strlen(ps) <= 5;
  if (!digits || (p = atoll(ps)) > 65535)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "--listen %s: the port must be a number in 0..65535; %s", spec,
                       listen_example);
  memcpy(host, h, hl);
  host[hl] = '\0';
  *port = (uint16_t)p;
  return EVP_OK;
}

void evp__sockaddr_ip(const struct sockaddr *sa, char *out, size_t cap) {
  out[0] = '\0';
  if (sa && sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
              (socklen_t)cap);
  else if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
              (socklen_t)cap);
}

/* What to do about bind()'s @p en. */
static const char *bind_hint(int en) {
  switch (en) {
  case EADDRINUSE:
    return "stop the other server or pick another port with --listen HOST:PORT (port 0 picks a "
           "free one)";
  case EACCES:
    return "ports below 1024 need privileges: pick one from 1024 up with --listen HOST:PORT";
  case EADDRNOTAVAIL:
    return "the address is not one of this machine's: use --listen 127.0.0.1:PORT (this machine "
           "only) or 0.0.0.0:PORT (every IPv4 interface)";
  default: return "pick another address with --listen HOST:PORT";
  }
}

static int is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
  return sa->sa_family == AF_INET6 &&
         IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port) {
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* One listening socket on @p ss; -1 and *en when it cannot be made. */
static int bind_one(const struct sockaddr_storage *ss, socklen_t sl, int *en) {
  int one = 1;
  /* Non-blocking: see the accept loop in http_conns.c. IPv6 sockets take
   * IPv6 only: [::] and 0.0.0.0 are separate choices. */
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 ||
      (ss->ss_family == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
    *en = errno ? errno : EIO;
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

void evp__listener_free(evp__listener_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++)
    if (l->fds[i] >= 0) close(l->fds[i]);
  free(l);
}

evp_err_t evp__listen_open(const char *spec, evp__listener_t **out, char *errstr,
                           size_t errstr_size) {
  *out = NULL;
  char host[EVP__LISTEN_HOST_MAX];
  uint16_t port;
  int bracketed;
  evp_err_t e = evp__listen_parse(spec, host, sizeof host, &port, &bracketed, errstr, errstr_size);
  if (e != EVP_OK) return e;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | (bracketed ? AI_NUMERICHOST : 0);
  int g = getaddrinfo(host, NULL, &hints, &res);
  if (g != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "--listen %s: cannot resolve %s: %s; give a host name this machine "
                       "resolves, or an address: 127.0.0.1, [::1], 0.0.0.0 (HOST:PORT)",
                       spec, host, g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
  /* The distinct addresses, in the resolver's order. */
  struct sockaddr_storage addr[EVP__LISTEN_MAX];
  socklen_t alen[EVP__LISTEN_MAX];
  size_t na = 0;
  for (struct addrinfo *ai = res; ai && na < EVP__LISTEN_MAX; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof addr[0])
      continue;
    int dup = 0;
    for (size_t k = 0; k < na && !dup; k++)
      dup = alen[k] == ai->ai_addrlen && memcmp(&addr[k], ai->ai_addr, ai->ai_addrlen) == 0;
    if (dup) continue;
    memset(&addr[na], 0, sizeof addr[na]);
    memcpy(&addr[na], ai->ai_addr, ai->ai_addrlen);
    alen[na++] = (socklen_t)ai->ai_addrlen;
  }
  freeaddrinfo(res);
  if (na == 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "--listen %s: %s has no IPv4 or IPv6 address; give an address: 127.0.0.1, "
                       "[::1], 0.0.0.0 (HOST:PORT)",
                       spec, host);
  evp__listener_t *l = calloc(1, sizeof *l);
  if (!l) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  int en = 0;
  size_t failed_at = 0;
  for (int round = 0; round < PORT0_TRIES; round++) {
    uint16_t p = port;
    int retry = 0;
    en = 0;
    l->n = 0;
    l->ipv6 = l->exposed = 0;
    for (size_t i = 0; i < na; i++) {
      set_port(&addr[i], p);
      int err = 0, fd = bind_one(&addr[i], alen[i], &err);
      if (fd < 0) {
        /* An address this machine cannot have (IPv6 off) is skipped
         * when another one binds; port 0 picked on the first address may
         * be taken on a later one: try another port. */
        if ((err == EAFNOSUPPORT || err == EADDRNOTAVAIL) && na > 1) {
          if (!en) en = err, failed_at = i;
          continue;
        }
        retry = port == 0 && l->n > 0 && err == EADDRINUSE;
        en = err;
        failed_at = i;
        for (size_t k = 0; k < l->n; k++) close(l->fds[k]);
        l->n = 0;
        break;
      }
      if (l->n == 0 && port == 0) {
        struct sockaddr_storage b;
        socklen_t bl = sizeof b;
        if (getsockname(fd, (struct sockaddr *)&b, &bl) == 0)
          p = ntohs(b.ss_family == AF_INET ? ((struct sockaddr_in *)&b)->sin_port
                                           : ((struct sockaddr_in6 *)&b)->sin6_port);
      }
      if (addr[i].ss_family == AF_INET6) l->ipv6 = 1;
      if (!is_loopback((const struct sockaddr *)&addr[i])) l->exposed = 1;
      l->fds[l->n++] = fd;
      l->port = p;
    }
    if (l->n > 0 || !retry) break;
  }
  if (l->n == 0) {
    /* The address in parentheses when the name is not the address itself. */
    char ip[64], which[96] = "";
    evp__sockaddr_ip((const struct sockaddr *)&addr[failed_at], ip, sizeof ip);
    if (strcmp(ip, host) != 0)
      snprintf(which, sizeof which,
               addr[failed_at].ss_family == AF_INET6 ? " ([%s]:%u)" : " (%s:%u)", ip,
               (unsigned)port);
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot listen on %s%s: %s; %s", spec, which,
                    strerror(en), bind_hint(en));
    evp__listener_free(l);
    return e;
  }
  snprintf(l->url, sizeof l->url, bracketed ? "http://[%s]:%u" : "http://%s:%u", host,
           (unsigned)l->port);
  *out = l;
  return EVP_OK;
}
