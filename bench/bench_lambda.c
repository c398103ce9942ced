/* Lambda runtime benchmarks, against the Runtime API test double
 * (tests/mock_lambda_api.c, in this process).
 *
 *   bench_lambda loop [-A] [-n N] [-p PAYLOAD]
 *       Invocations/s of the runtime loop (evp_lambda_run) with a trivial
 *       in-process handler that echoes the event; the loop runs on this
 *       thread, pinned to one CPU, the mock on its own threads. Also prints
 *       the loop thread's CPU time per invocation (the one-core cost).
 *       -A: the real authorizer function verifying a valid token (keys
 *       from the Secrets Manager double, fetched once) instead of the echo.
 *
 *   bench_lambda cold [-n RUNS] [-H HANDLER] [-e NAME=VALUE]... [-p PAYLOAD | -f FILE]
 *                     [-t TIMEOUT_MS] BOOTSTRAP [ARGS...]
 *       Cold start: fork/exec BOOTSTRAP (e.g. build/bootstrap, or the
 *       unpacked zip's bootstrap) with a clean environment like Lambda's
 *       (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, AWS_REGION, TZ,
 *       LANG, PATH) plus the -e variables, and measure from just before
 *       fork to the first /response received by the mock; the process is
 *       then killed. Prints min, median, p90 and max over RUNS. A run whose
 *       answer is not a /response (an error, an init error, or nothing
 *       within the timeout) is reported and makes the exit status 1.
 *       -A: the authorizer as deployed: a Secrets Manager double (in this
 *       process) holds the signing key, and the event is a TOKEN request
 *       with a valid token, so the cold start includes fetching the keys:
 *         bench_lambda cold -A -n 100 build/bootstrap
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "evpipe/evpipe.h"
#include "functions/functions.h"
#include "local/local.h"
#include "mock_aws.h"
#include "mock_lambda_api.h"
#include "base/files.h"

static double now_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int usage(void) {
  fputs("usage: bench_lambda loop [-A] [-n N] [-p PAYLOAD]\n"
        "       bench_lambda cold [-A] [-n RUNS] [-H HANDLER] [-e NAME=VALUE]... [-p PAYLOAD | -f "
        "FILE]\n"
        "                         [-t TIMEOUT_MS] BOOTSTRAP [ARGS...]\n",
        stderr);
  return 2;
}

/* ------------------------------------------------------------ authorizer setup */

/* The AWS side of the authorizer: the Secrets Manager double with a signing
 * key, the environment the function needs ("NAME=value" in @p envbuf, listed
 * in @p env), and a REST TOKEN event with a valid token (*payload, malloc'd). */
static int authz_setup(mock_aws_t **aws_out, char **payload, char envbuf[8][2200],
                       const char *env[8], size_t *nenv) {
  static const char key_b64u[] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
  static const char kid[] = "11111111-1111-4111-8111-111111111111";
  mock_aws_t *aws = mock_aws_start(NULL);
  if (!aws ||
      mock_aws_secret_create(aws, "bench-signing-key", key_b64u, strlen(key_b64u), kid) != 0)
    return -1;
  size_t ne;
  const char *const *ae = mock_aws_env(aws, &ne);
  *nenv = 0;
  for (size_t i = 0; i < ne && *nenv < 7; i++) {
    snprintf(envbuf[*nenv], 2200, "%s", ae[i]);
    env[*nenv] = envbuf[*nenv];
    (*nenv)++;
  }
  snprintf(envbuf[*nenv], 2200, "EVP_SIGNING_KEY_SECRET_ID=bench-signing-key");
  env[*nenv] = envbuf[*nenv];
  (*nenv)++;
  unsigned char key[64];
  size_t kl;
  char err[256] = "", *tok = NULL;
  evp_keyring_t *kr = evp_keyring_new();
  evp_jwt_signer_t *s = NULL;
  int rc = -1;
  if (kr && evp_base64url_decode(key_b64u, strlen(key_b64u), key, &kl) == EVP_OK &&
      evp_keyring_add(kr, kid, key, kl, err, sizeof err) == EVP_OK &&
      (s = evp_jwt_signer_new(kr, err, sizeof err)) &&
      evp_jwt_signer_set_issuer(s, "evpipe") == EVP_OK &&
      evp_jwt_sign(s, "bench-client", "events", NULL, &tok, err, sizeof err) == EVP_OK) {
    size_t pl = strlen(tok) + 256;
    if ((*payload = malloc(pl)) != NULL) {
      snprintf(*payload, pl,
               "{\"type\":\"TOKEN\",\"authorizationToken\":\"Bearer %s\",\"methodArn\":"
               "\"arn:aws:execute-api:us-east-1:123456789012:abc/prod/POST/events\"}",
               tok);
      rc = 0;
    }
  } else {
    fprintf(stderr, "token: %s\n", err);
  }
  evp_free(tok);
  evp_jwt_signer_destroy(s);
  evp_keyring_destroy(kr);
  *aws_out = aws;
  return rc;
}

/* ------------------------------------------------------------ loop */

static evp_err_t h_echo(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                        size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                        size_t ems) {
  (void)opaque, (void)inv, (void)et, (void)ets, (void)em, (void)ems;
  char *p = malloc(len + 1);
  if (!p) return EVP_ERR_NOMEM;
  memcpy(p, ev, len);
  *out = p;
  *out_len = len;
  return EVP_OK;
}

static int run_loop(int argc, char **argv) {
  long n = 50000;
  const char *payload = "{\"type\":\"TOKEN\",\"methodArn\":\"arn:aws:execute-api:us-east-1:"
                        "123456789012:abc/prod/POST/events\"}";
  int c, authz = 0;
  while ((c = getopt(argc, argv, "n:p:A")) != -1) {
    if (c == 'n')
      n = atol(optarg);
    else if (c == 'p')
      payload = optarg;
    else if (c == 'A')
      authz = 1;
    else
      return usage();
  }
  if (n < 1) return usage();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    perror("sched_setaffinity (continuing unpinned)");
  mock_lambda_t *m = mock_lambda_start();
  if (!m) return 1;
  char err[512];
  /* -A: the real authorizer function (the bootstrap's handler) instead of
   * an echo, verifying a real token; keys fetched once from the double. */
  evp_lambda_handler_cb_t handler = h_echo;
  void *hopaque = NULL;
  mock_aws_t *aws = NULL;
  char *tokev = NULL;
  evp__fn_t *fn = NULL;
  if (authz) {
    char envbuf[8][2200];
    const char *env[8];
    size_t ne;
    if (authz_setup(&aws, &tokev, envbuf, env, &ne) != 0) return 1;
    for (size_t i = 0; i < ne; i++) {
      char *eq = strchr(envbuf[i], '=');
      *eq = 0;
      setenv(envbuf[i], eq + 1, 1);
    }
    evp__fn_config_t cfg;
    if (evp__fn_config_from_env(&cfg, EVP__FN_AUTHORIZER, err, sizeof err) != EVP_OK ||
        evp__fn_new(&cfg, NULL, 0, &fn, err, sizeof err) != EVP_OK) {
      fprintf(stderr, "authorizer: %s\n", err);
      return 1;
    }
    handler = evp__fn_lambda_handler;
    hopaque = fn;
    payload = tokev;
    setenv("AWS_LAMBDA_LOG_LEVEL", "WARN", 1); /* no line per invocation on stderr */
  }
  evp_lambda_runtime_t *rt = evp_lambda_runtime_new(mock_lambda_address(m), err, sizeof err);
  if (!rt) {
    fprintf(stderr, "%s\n", err);
    mock_lambda_stop(m);
    return 1;
  }
  long warm = n / 10 < 1000 ? n / 10 : 1000;
  for (long i = 0; i < warm + n; i++)
    if (mock_lambda_enqueue_simple(m, NULL, payload) != 0) {
      fputs("enqueue failed\n", stderr);
      return 1;
    }
  if (warm && evp_lambda_run(rt, handler, hopaque, (uint64_t)warm) != EVP_OK) return 1;
  double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  evp_err_t e = evp_lambda_run(rt, handler, hopaque, (uint64_t)n);
  double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_THREAD_CPUTIME_ID);
  mock_lambda_stats_t st;
  mock_lambda_stats(m, &st);
  evp_lambda_runtime_destroy(rt);
  mock_lambda_stop(m);
  evp__fn_free(fn);
  mock_aws_stop(aws);
  if (e != EVP_OK) {
    fprintf(stderr, "evp_lambda_run: %s\n", evp_err2name(e));
    return 1;
  }
  printf("runtime loop (%s handler): %ld invocations (%zu-byte event) in %.3f s: %.0f "
         "invocations/s wall "
         "(runtime + mock API sharing the machine)\n",
         authz ? "authorizer" : "echo", n, strlen(payload), w1 - w0, (double)n / (w1 - w0));
  printf("runtime loop thread CPU: %.2f us/invocation = %.0f invocations/s per core\n",
         (c1 - c0) * 1e6 / (double)n, (double)n / (c1 - c0));
  printf("mock: %llu results, %llu refused\n", (unsigned long long)st.results,
         (unsigned long long)st.bad_requests);
  free(tokev);
  return 0;
}

/* ------------------------------------------------------------ cold */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

#define MAX_ENV 64

static int run_cold(int argc, char **argv) {
  long runs = 20;
  long timeout_ms = 10000;
  const char *handler = NULL;
  char *payload = NULL;
  const char *extra[MAX_ENV];
  int n_extra = 0;
  int with_aws = 0, check_allow = 0;
  int c;
  while ((c = getopt(argc, argv, "+n:H:e:p:f:t:A")) != -1) {
    switch (c) {
    case 'A': with_aws = 1; break;
    case 'n': runs = atol(optarg); break;
    case 't': timeout_ms = atol(optarg); break;
    case 'H': handler = optarg; break;
    case 'e':
      if (n_extra == MAX_ENV || !strchr(optarg, '=')) {
        fputs("-e NAME=VALUE (at most 64)\n", stderr);
        return 2;
      }
      extra[n_extra++] = optarg;
      break;
    case 'p':
      free(payload);
      payload = strdup(optarg);
      break;
    case 'f':
      free(payload);
      char err[300];
      size_t plen;
      if (evp__file_read(optarg, EVP_LAMBDA_MAX_EVENT, 0, &payload, &plen, NULL, err, sizeof err) !=
          EVP_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
      }
      break;
    default: return usage();
    }
  }
  if (optind >= argc || runs < 1 || timeout_ms < 1) return usage();
  char **child_argv = argv + optind;
  const char *boot = child_argv[0];
  if (access(boot, X_OK) != 0) {
    perror(boot);
    return 2;
  }
  mock_lambda_t *m = mock_lambda_start();
  if (!m) return 1;
  /* -A: the authorizer as deployed — a Secrets Manager (the AWS test double,
   * in this process) holding the signing key, and a TOKEN event carrying a
   * valid token signed with it: the cold start includes fetching the keys. */
  mock_aws_t *aws = NULL;
  char envbuf[8][2200];
  if (with_aws) {
    const char *ae[8];
    size_t nae = 0;
    char *tokev = NULL;
    if (authz_setup(&aws, &tokev, envbuf, ae, &nae) != 0) return 1;
    for (size_t i = 0; i < nae && n_extra < MAX_ENV; i++) extra[n_extra++] = ae[i];
    if (!handler) handler = "authorizer";
    if (!payload) {
      payload = tokev;
      check_allow = 1; /* our valid token must get an Allow policy */
    } else {
      free(tokev);
    }
  }

  /* The environment Lambda gives provided.al2023 functions (the parts that
   * matter here), then the -e additions (which may override). */
  char api[96], h[512], root[4096];
  snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=%s", mock_lambda_address(m));
  snprintf(h, sizeof h, "_HANDLER=%s", handler ? handler : "");
  const char *slash = strrchr(boot, '/');
  snprintf(root, sizeof root, "LAMBDA_TASK_ROOT=%.*s", slash ? (int)(slash - boot) : 1,
           slash ? boot : ".");
  const char *base[] = {api,
                        h,
                        root,
                        "AWS_REGION=us-east-1",
                        "AWS_DEFAULT_REGION=us-east-1",
                        "AWS_LAMBDA_FUNCTION_NAME=bench",
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
                        "TZ=:UTC",
                        "LANG=en_US.UTF-8",
                        "PATH=/usr/local/bin:/usr/bin:/bin"};
  char *envp[sizeof base / sizeof *base + MAX_ENV + 1];
  int ne = 0;
  for (size_t i = 0; i < sizeof base / sizeof *base; i++) {
    const char *eq = strchr(base[i], '=');
    int overridden = 0;
    for (int j = 0; j < n_extra; j++)
      if (!strncmp(extra[j], base[i], (size_t)(eq - base[i]) + 1)) overridden = 1;
    if (!overridden) envp[ne++] = (char *)base[i];
  }
  for (int j = 0; j < n_extra; j++) envp[ne++] = (char *)extra[j];
  envp[ne] = NULL;

  int64_t *lat = calloc((size_t)runs, sizeof *lat);
  if (!lat) return 1;
  long ok = 0, bad = 0;
  for (long i = 0; i < runs; i++) {
    char id[64];
    snprintf(id, sizeof id, "cold-%ld", i);
    mock_lambda_invocation_t in = {.payload = payload ? payload : "{}", .request_id = id};
    if (mock_lambda_enqueue(m, &in, NULL, 0) != 0) return 1;
    int64_t t0 = mono_ns();
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) {
      execve(boot, child_argv, envp);
      _exit(127);
    }
    mock_lambda_result_t res;
    int got = mock_lambda_wait_result(m, id, (int)timeout_ms, &res);
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (got != 0) {
      fprintf(stderr, "run %ld: no answer within %ld ms (exit status %d)\n", i, timeout_ms, st);
      bad++;
      mock_lambda_fail_inflight(m, "Runtime.ExitError");
      /* An init error may have been posted instead. */
      if (mock_lambda_wait_result(m, "", 0, &res) == 0) {
        fprintf(stderr, "  init error %s: %.300s\n", res.error_type, res.body);
        mock_lambda_result_free(&res);
      }
      mock_lambda_result_t lost;
      while (mock_lambda_wait_result(m, NULL, 0, &lost) == 0) mock_lambda_result_free(&lost);
      continue;
    }
    if (res.kind != MOCK_LAMBDA_RESPONSE) {
      fprintf(stderr, "run %ld: %s %s: %.300s\n", i,
              res.kind == MOCK_LAMBDA_ERROR ? "error" : "unexpected result", res.error_type,
              res.body);
      bad++;
    } else if (check_allow && !strstr(res.body ? res.body : "", "\"Allow\"")) {
      fprintf(stderr, "run %ld: the authorizer did not allow the valid token: %.300s\n", i,
              res.body);
      bad++;
    } else {
      lat[ok++] = res.received_ns - t0;
    }
    mock_lambda_result_free(&res);
  }
  mock_lambda_stop(m);
  mock_aws_stop(aws);
  free(payload);
  if (ok) {
    qsort(lat, (size_t)ok, sizeof *lat, cmp_i64);
    long p90 = (ok * 9 + 9) / 10 - 1;
    printf(
        "cold start (fork+exec -> first /response) of %s, %ld runs: min %.2f ms, median %.2f ms, "
        "p90 %.2f ms, max %.2f ms\n",
        boot, ok, lat[0] / 1e6, lat[ok / 2] / 1e6, lat[p90] / 1e6, lat[ok - 1] / 1e6);
  }
  free(lat);
  if (bad) fprintf(stderr, "%ld of %ld runs did not answer with a /response\n", bad, runs);
  return bad || !ok ? 1 : 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) return usage();
  if (!strcmp(argv[1], "loop")) return run_loop(argc - 1, argv + 1);
  if (!strcmp(argv[1], "cold")) return run_cold(argc - 1, argv + 1);
  return usage();
}
