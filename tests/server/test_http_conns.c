/* Suite: the listening socket of the HTTP front (src/local/http_conns.c).
 * Its accept thread polls, then accepts: a connection that poll reported can
 * be gone by the time accept runs, and a blocking accept would then wait for
 * the next client, so evp__conns_stop_accepting (which joins that thread)
 * could hang at shutdown. The socket must be non-blocking. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include "base/base.h"
#include "local/http_conns.h"

/* The descriptors of this process that are listening sockets. */
static int listening_fds(int *out, int cap) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  ck_assert_ptr_nonnull(d);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    int fd = atoi(e->d_name), on = 0;
    socklen_t l = sizeof on;
    if (e->d_name[0] != '.' && fd != dirfd(d) &&
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l) == 0 && on && n < cap)
      out[n++] = fd;
  }
  closedir(d);
  return n;
}

START_TEST(listening_socket_is_nonblocking) {
  evp__local_opts_t o;
  evp__local_opts_default(&o);
  int before[16], after[16], nb = listening_fds(before, 16);
  evp__conns_t *cs = NULL;
  evp__listener_t *lis = NULL;
  char err[256] = "";
  ck_assert_msg(evp__listen_open("127.0.0.1:0", &lis, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_int_gt(lis->port, 0);
  ck_assert_int_eq(lis->ipv6, 0);
  ck_assert_uint_eq(lis->n, 1);
  ck_assert_msg(evp__conns_new(lis, &o, NULL, &cs, err, sizeof err) == EVP_OK, "%s", err);
  int na = listening_fds(after, 16);
  ck_assert_int_eq(na, nb + 1);
  int fd = after[na - 1];
  for (int i = 0; i < na; i++) {
    int old = 0;
    for (int k = 0; k < nb; k++) old |= before[k] == after[i];
    if (!old) fd = after[i];
  }
  int fl = fcntl(fd, F_GETFL);
  ck_assert_int_ge(fl, 0);
  ck_assert_msg(fl & O_NONBLOCK, "the listening socket (fd %d) is blocking", fd);
  ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
  ck_assert_msg(fcntl(fd, F_GETFD) & FD_CLOEXEC, "the listening socket is not close-on-exec");
  /* Nothing to accept: a non-blocking accept says so at once. */
  ck_assert_int_lt(accept(fd, NULL, NULL), 0);
  evp__conns_free(cs);
}
END_TEST

/* The one sockaddr-to-text function of the HTTP front (accept loop and
 * request log): both families, and "" for what has no address. */
START_TEST(sockaddr_ip_text) {
  char out[INET6_ADDRSTRLEN];
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  memset(&a4, 0, sizeof a4);
  memset(&a6, 0, sizeof a6);
  a4.sin_family = AF_INET;
  a6.sin6_family = AF_INET6;
  ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.42", &a4.sin_addr), 1);
  ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::ffff:1", &a6.sin6_addr), 1);
  evp__sockaddr_ip((const struct sockaddr *)&a4, out, sizeof out);
  ck_assert_str_eq(out, "127.0.0.42");
  evp__sockaddr_ip((const struct sockaddr *)&a6, out, sizeof out);
  ck_assert_str_eq(out, "2001:db8::ffff:1");
  struct sockaddr_un au;
  memset(&au, 0, sizeof au);
  au.sun_family = AF_UNIX;
  memcpy(out, "x", 2);
  evp__sockaddr_ip((const struct sockaddr *)&au, out, sizeof out);
  ck_assert_str_eq(out, "");
  memcpy(out, "x", 2);
  evp__sockaddr_ip(NULL, out, sizeof out);
  ck_assert_str_eq(out, "");
}
END_TEST

int main(void) {
  Suite *s = suite_create("http_conns");
  TCase *tc = tcase_create("listen");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, listening_socket_is_nonblocking);
  tcase_add_test(tc, sockaddr_ip_text);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
