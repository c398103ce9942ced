// Tests of the C++ wrapper include/evpipe/evpipe.hpp. Built twice (g++ from
// CMake, clang++ by an explicit command in bindings/cpp/CMakeLists.txt) with
// -std=c++17 -Wall -Wextra -pedantic -Werror under ASan+UBSan.
//
// Without a server: configuration errors both ways, refusal at the door with
// the JSON path, delivery reports to lambdas that capture state (served by
// close() and poll() in poll mode), moves of Client, use after close,
// exceptions thrown by callables, schema compile/validate errors.
// With EVP_CPP_ENDPOINT / EVP_CPP_CLIENT_ID / EVP_CPP_SECRET set (by
// tests/scripts/test_bindings_cpp.sh, against `evpipe local`): events are
// delivered and reported once each; their event_ids go to EVP_CPP_IDS_OUT for
// the script's lake check; a wrong secret gives EVP_ERR_AUTH.
// Prints "N passed, N failed"; exits 1 when a check failed.
#include <evpipe/evpipe.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_pass = 0, g_fail = 0;

void check(bool ok, const char *what, int line, const std::string &detail = "") {
  if (ok) {
    g_pass++;
  } else {
    g_fail++;
    std::printf("FAIL line %d: %s %s\n", line, what, detail.c_str());
  }
}
#define CHECK(cond) check((cond), #cond, __LINE__)
#define CHECK_MSG(cond, detail) check((cond), #cond, __LINE__, (detail))

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

// A configuration that creates a client without a server: nothing listens on
// port 1, so every event stays pending until close() reports it.
evpipe::Conf offline_conf() {
  evpipe::Conf c;
  c.set("endpoint", "http://127.0.0.1:1")
      .set("client.id", "cpp-test")
      .set("client.secret", "cpp-test-secret-0123456789")
      .set("callbacks.mode", "poll");
  return c;
}

const char kEvent[] = R"({"event_type":"app.start","app_id":"cpp-test"})";

void test_error_category() {
  std::error_code ec = EVP_ERR_AUTH; // is_error_code_enum + make_error_code
  CHECK(ec.category() == evpipe::category());
  CHECK(std::string(ec.category().name()) == "evpipe");
  CHECK(ec.message() == evp_err2str(EVP_ERR_AUTH));
  CHECK(std::string(evpipe::error_name(ec)) == "EVP_ERR_AUTH");
  CHECK(ec == EVP_ERR_AUTH);
  CHECK(ec != EVP_ERR_HTTP);
  CHECK(!std::error_code(EVP_OK));
  CHECK(std::string(evpipe::error_name(std::make_error_code(std::errc::io_error))).empty());
  evpipe::Error e(EVP_ERR_QUEUE_FULL, "");
  CHECK(e.code() == EVP_ERR_QUEUE_FULL);
  CHECK(e.reason() == evp_err2str(EVP_ERR_QUEUE_FULL));
  CHECK(std::string(e.what()).rfind("EVP_ERR_QUEUE_FULL: ", 0) == 0);
}

void test_conf_errors() {
  evpipe::Conf c;
  bool threw = false;
  try {
    c.set("no.such.property", "1");
  } catch (const evpipe::Error &e) {
    threw = true;
    CHECK(e.code() == EVP_ERR_CONF_UNKNOWN);
    CHECK(e.err() == EVP_ERR_CONF_UNKNOWN);
    CHECK(std::string(e.name()) == "EVP_ERR_CONF_UNKNOWN");
    CHECK_MSG(contains(e.what(), "no.such.property"), e.what());
    // Also catchable as the standard type.
    const std::system_error &se = e;
    CHECK(se.code().category() == evpipe::category());
  }
  CHECK(threw);

  std::error_code ec;
  std::string why;
  c.set("no.such.property", "1", ec, &why); // noexcept
  CHECK(ec == EVP_ERR_CONF_UNKNOWN);
  CHECK_MSG(contains(why, "no.such.property"), why);
  c.set("linger.ms", "not-a-number", ec);
  CHECK(ec == EVP_ERR_CONF_INVALID);
  c.set("linger.ms", "7", ec, &why);
  CHECK(!ec);
  CHECK(why.empty());
  CHECK(c.get("linger.ms") == "7");
  c.get("no.such.property", ec);
  CHECK(ec == EVP_ERR_CONF_UNKNOWN);
  // A long value goes through the heap copy, not the stack buffer.
  std::string longurl = "http://127.0.0.1:1/" + std::string(400, 'a');
  c.set("endpoint", longurl);
  CHECK(c.get("endpoint") == longurl);

  // Copies are deep; a moved-from Conf refuses use.
  evpipe::Conf copy(c);
  copy.set("linger.ms", "9");
  CHECK(c.get("linger.ms") == "7");
  CHECK(copy.get("linger.ms") == "9");
  evpipe::Conf moved(std::move(c));
  CHECK(moved.get("linger.ms") == "7");
  c.set("linger.ms", "1", ec); // NOLINT(bugprone-use-after-move): the point
  CHECK(ec == EVP_ERR_INVALID_ARG);
}

void test_client_new_errors() {
  evpipe::Conf c;
  c.set("client.id", "x").set("client.secret", "cpp-test-secret-0123456789");
  bool threw = false;
  try {
    evpipe::Client cl(c);
  } catch (const evpipe::Error &e) {
    threw = true;
    CHECK(e.code() == EVP_ERR_CONF_INVALID);
    CHECK_MSG(contains(e.what(), "endpoint"), e.what());
  }
  CHECK(threw);
  std::error_code ec;
  std::string why;
  int delivered = 0;
  c.on_delivery([&](const evpipe::DeliveryReport &) { delivered++; });
  evpipe::Client bad(std::move(c), ec, &why);
  CHECK(ec == EVP_ERR_CONF_INVALID);
  CHECK(!bad.valid());
  CHECK_MSG(contains(why, "endpoint"), why);
  // The Conf (and its callable) stays the caller's after a failure.
  // The code is the library's, not a guess: an unreadable schema file.
  evpipe::Conf io = c;
  io.set("endpoint", "http://127.0.0.1:1").set("schema.file", "/nonexistent/cpp-schema.json");
  evpipe::Client unreadable(std::move(io), ec, &why);
  CHECK(ec == EVP_ERR_IO);
  CHECK_MSG(contains(why, "cpp-schema.json"), why);
  c.set("endpoint", "http://127.0.0.1:1").set("callbacks.mode", "poll");
  evpipe::Client good(std::move(c), ec);
  CHECK(!ec);
  CHECK(good.valid());
  good.send(kEvent);
  CHECK(good.close(0) == 1);
  CHECK(delivered == 1);
}

void test_refused_with_path() {
  evpipe::Conf c = offline_conf();
  c.set("schema.file", EVP_TEST_SCHEMA);
  evpipe::Client cl(c);
  bool threw = false;
  try {
    cl.send(R"({"event_type":"Not Lower","app_id":"cpp-test"})");
  } catch (const evpipe::Error &e) {
    threw = true;
    CHECK(e.code() == EVP_ERR_INVALID_EVENT);
    CHECK_MSG(contains(e.reason(), "/event_type"), e.reason());
  }
  CHECK(threw);
  std::error_code ec;
  std::string why;
  CHECK(!cl.send(R"({"event_type":"a.b","app_id":""})", ec, &why));
  CHECK(ec == EVP_ERR_INVALID_EVENT);
  CHECK_MSG(contains(why, "/app_id"), why);
  CHECK(!cl.send("{not json", ec));
  CHECK(ec == EVP_ERR_JSON);
  // A refused event with a per-event callable: the callable never runs.
  int ran = 0;
  CHECK(!cl.send(
      "[]", [&](const evpipe::DeliveryReport &) { ran++; }, ec));
  CHECK(ec == EVP_ERR_INVALID_EVENT || ec == EVP_ERR_JSON);
  CHECK(cl.send(kEvent, ec));
  CHECK(!ec);
  CHECK(cl.close(0) == 1);
  CHECK(ran == 0);
}

void test_reports_to_lambdas() {
  std::map<std::string, int> by_status;
  int client_wide = 0;
  evpipe::Conf c = offline_conf();
  c.on_delivery([&](const evpipe::DeliveryReport &r) {
    client_wide++;
    by_status[evpipe::error_name(r.error())]++;
    CHECK(r.opaque() == reinterpret_cast<void *>(std::uintptr_t{7}) || r.opaque() == nullptr);
  });
  evpipe::Client cl(std::move(c));
  std::vector<std::string> ids;
  int mine = 0;
  for (int i = 0; i < 3; i++)
    cl.send(kEvent, [&, i](const evpipe::DeliveryReport &r) {
      mine += i + 1; // each runs once: 1 + 2 + 3
      CHECK(!r.ok());
      CHECK(r.status() == EVP_DELIVERY_FAILED);
      CHECK(r.error() == EVP_ERR_STATE);
      CHECK(!r.reason().empty());
      CHECK(r.event_id().size() == 36); // filled by the library (UUIDv7)
      ids.emplace_back(r.event_id());
      CHECK(r.attempts() == 0);
      CHECK(r.http_status() == 0);
      CHECK(!r.from_spool());
      CHECK(r.latency().count() >= 0);
    });
  cl.send(kEvent);
  cl.send(kEvent, reinterpret_cast<void *>(std::uintptr_t{7}));
  // A move-only callable (a std::unique_ptr capture) is accepted too.
  auto owned = std::make_unique<int>(40);
  int seen = 0;
  cl.send(kEvent, [p = std::move(owned), &seen](const evpipe::DeliveryReport &) { seen = *p + 2; });
  CHECK(cl.poll(0) == 0); // nothing is due: the server does not answer
  std::string stats = cl.stats();
  CHECK_MSG(contains(stats, "\"enqueued\""), stats);
  CHECK(cl.close(0) == 6); // every event reported failed at close
  CHECK(mine == 6);
  CHECK(seen == 42);
  CHECK(client_wide == 2);
  CHECK(by_status["EVP_ERR_STATE"] == 2);
  CHECK(ids.size() == 3 && ids[0] != ids[1] && ids[1] != ids[2]);
  CHECK(cl.close(0) == 0); // closing twice: nothing
}

void test_error_callback_in_poll() {
  std::error_code got;
  bool retrying = false;
  std::string reason;
  evpipe::Conf c = offline_conf();
  c.on_error([&](std::error_code e, bool r, std::string_view why) {
    got = e;
    retrying = r;
    reason = std::string(why);
  });
  evpipe::Client cl(std::move(c));
  cl.close_timeout(0);
  cl.send(kEvent);
  for (int i = 0; i < 100 && !got; i++) cl.poll(100);
  CHECK_MSG(got == EVP_ERR_TRANSPORT, got.message());
  CHECK(retrying);
  CHECK_MSG(contains(reason, "127.0.0.1:1"), reason);
  cl.pause();
  cl.resume();
  CHECK(cl.poll_fd() >= 0);
}

void test_moves() {
  int reports = 0;
  evpipe::Conf c = offline_conf();
  c.on_delivery([&](const evpipe::DeliveryReport &) { reports++; });
  evpipe::Client a(c);
  a.send(kEvent);
  evpipe::Client b(std::move(a));
  CHECK(!a.valid()); // NOLINT(bugprone-use-after-move)
  CHECK(b.valid());
  b.send(kEvent);
  // Many clients in a vector that reallocates: the callables' state does not
  // move with the Client objects.
  std::vector<evpipe::Client> v;
  for (int i = 0; i < 5; i++) {
    v.emplace_back(c);
    v.back().send(kEvent);
  }
  evpipe::Client d;
  d = std::move(b);
  d.send(kEvent);
  CHECK(d.close(0) == 3);
  CHECK(reports == 3);
  for (auto &x : v) x.close_timeout(0);
  v.erase(v.begin()); // closes one (move-assignment over it: 1 report)...
  CHECK(reports == 4);
  v.clear(); // ...and the destructors the other four
  CHECK(reports == 8);
  // Move-assigning over an open client closes it first.
  evpipe::Client e(c), f(c);
  e.send(kEvent);
  f.send(kEvent);
  e.close_timeout(0);
  e = std::move(f);
  CHECK(reports == 9);
  e.close(0);
  CHECK(reports == 10);
}

void test_use_after_close() {
  evpipe::Client cl(offline_conf());
  cl.close(0);
  bool threw = false;
  try {
    cl.send(kEvent);
  } catch (const evpipe::Error &e) {
    threw = true;
    CHECK(e.code() == EVP_ERR_STATE);
  }
  CHECK(threw);
  std::error_code ec;
  std::string why;
  CHECK(!cl.send(kEvent, ec, &why));
  CHECK(ec == EVP_ERR_STATE);
  CHECK(why == "client is closed");
  CHECK(!cl.send(
      kEvent, [](const evpipe::DeliveryReport &) {}, ec));
  CHECK(ec == EVP_ERR_STATE);
  cl.flush(0, ec);
  CHECK(ec == EVP_ERR_STATE);
  cl.poll(0, ec);
  CHECK(ec == EVP_ERR_STATE);
  cl.pause(ec);
  CHECK(ec == EVP_ERR_STATE);
  cl.stats(ec);
  CHECK(ec == EVP_ERR_STATE);
  threw = false;
  try {
    cl.flush(0);
  } catch (const evpipe::Error &e) {
    threw = e.code() == EVP_ERR_STATE;
  }
  CHECK(threw);
}

void test_callable_exception() {
  evpipe::Conf c = offline_conf();
  c.on_delivery(
      [](const evpipe::DeliveryReport &) { throw std::runtime_error("from the callable"); });
  evpipe::Client cl(std::move(c));
  cl.send(kEvent);
  bool threw = false;
  try {
    cl.close(0);
  } catch (const std::runtime_error &e) {
    threw = std::string(e.what()) == "from the callable";
  }
  CHECK(threw);
  CHECK(!cl.valid());
}

void test_close_from_callable_refused() {
  evpipe::Client *self = nullptr;
  std::error_code inner;
  evpipe::Conf c = offline_conf();
  c.on_delivery([&](const evpipe::DeliveryReport &) { self->flush(0, inner); });
  evpipe::Client cl(std::move(c));
  self = &cl;
  cl.send(kEvent);
  cl.close(0);
  CHECK(inner == EVP_ERR_STATE);
}

// callbacks.mode=thread: the callables run on the library's thread while
// several application threads send with per-event callables (the wrapper's
// table of pending callables is shared; TSan builds check it).
void test_thread_mode_concurrent() {
  std::atomic<int> client_wide{0}, per_event{0};
  evpipe::Conf c = offline_conf();
  c.set("callbacks.mode", "thread");
  c.on_delivery([&](const evpipe::DeliveryReport &) { client_wide++; });
  evpipe::Client cl(std::move(c));
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < 50; i++) {
        cl.send(kEvent, [&](const evpipe::DeliveryReport &r) {
          if (r.error() == EVP_ERR_STATE) per_event++;
        });
        cl.send(kEvent);
      }
    });
  for (auto &t : ts) t.join();
  std::error_code ec;
  cl.poll(0, ec);
  CHECK(ec == EVP_ERR_STATE); // not in poll mode
  CHECK(cl.close(0) == 400);
  CHECK(per_event == 200);
  CHECK(client_wide == 200);
}

void test_schema() {
  bool threw = false;
  try {
    evpipe::Schema s(R"({"type":"object","properties":{"a":{"type":"no-such-type"}}})");
  } catch (const evpipe::Error &e) {
    threw = true;
    CHECK_MSG(e.code() == EVP_ERR_SCHEMA_INVALID, e.what());
    CHECK_MSG(contains(e.reason(), "/properties/a"), e.reason());
  }
  CHECK(threw);
  std::error_code ec;
  evpipe::Schema bad("{", ec);
  CHECK(ec == EVP_ERR_JSON);
  CHECK(!bad.valid());

  evpipe::Schema s(R"({"type":"object","required":["id"],
    "properties":{"id":{"type":"integer"},"name":{"type":"string","maxLength":3}}})");
  CHECK(s.valid());
  CHECK(s.validate(R"({"id":1,"name":"abc"})").empty());
  auto errs = s.validate(R"({"id":"x","name":"abcd"})", 10);
  CHECK(errs.size() == 2);
  bool saw_id = false, saw_name = false;
  for (const auto &e : errs) {
    if (e.instance_path == "/id") {
      saw_id = true;
      CHECK(e.keyword == "type");
      CHECK_MSG(e.schema_path == "#/properties/id/type", e.schema_path);
      CHECK(!e.message.empty());
    }
    if (e.instance_path == "/name") saw_name = e.keyword == "maxLength";
  }
  CHECK(saw_id && saw_name);
  CHECK(s.validate(R"({"id":"x","name":"abcd"})").size() == 1); // stops at the first
  auto missing = s.validate("{}");
  CHECK(missing.size() == 1 && missing[0].keyword == "required");
  auto notjson = s.validate("{oops");
  CHECK(notjson.size() == 1);
  evpipe::Schema moved(std::move(s));
  CHECK(moved.valid() && !s.valid()); // NOLINT(bugprone-use-after-move)
  threw = false;
  try {
    s.validate("{}");
  } catch (const evpipe::Error &e) {
    threw = e.code() == EVP_ERR_INVALID_ARG;
  }
  CHECK(threw);
}

// ---------------------------------------------------------- against a server

const char *env(const char *name) {
  const char *v = std::getenv(name);
  return v && *v ? v : nullptr;
}

evpipe::Conf server_conf(const char *secret) {
  evpipe::Conf c;
  c.set("endpoint", env("EVP_CPP_ENDPOINT"))
      .set("client.id", env("EVP_CPP_CLIENT_ID"))
      .set("client.secret", secret)
      .set("audience", "events")
      .set("callbacks.mode", "poll")
      .set("linger.ms", "5");
  return c;
}

void test_server_delivery() {
  const int n = 40;
  const char *tag = env("EVP_CPP_TAG") ? env("EVP_CPP_TAG") : "cpp";
  std::vector<std::string> ids;
  std::map<std::uintptr_t, int> opaque_seen;
  int failed = 0;
  evpipe::Conf c = server_conf(env("EVP_CPP_SECRET"));
  c.on_delivery([&](const evpipe::DeliveryReport &r) {
    if (!r.ok()) {
      failed++;
      std::printf("    report: %s %.*s\n", evpipe::error_name(r.error()), int(r.reason().size()),
                  r.reason().data());
      return;
    }
    CHECK(r.http_status() == 200);
    CHECK(r.attempts() >= 1);
    opaque_seen[reinterpret_cast<std::uintptr_t>(r.opaque())]++;
    ids.emplace_back(r.event_id());
  });
  evpipe::Client cl(std::move(c));
  std::string ev = std::string(R"({"event_type":"cpp.test","app_id":")") + tag + "\"}";
  for (int i = 1; i <= n / 2; i++) cl.send(ev, reinterpret_cast<void *>(std::uintptr_t(i)));
  int per_event = 0;
  for (int i = 0; i < n / 2; i++)
    cl.send(ev, [&](const evpipe::DeliveryReport &r) {
      if (r.ok()) {
        per_event++;
        ids.emplace_back(r.event_id());
      }
    });
  CHECK(cl.flush(30000) == 0);
  CHECK(failed == 0);
  CHECK(per_event == n / 2);
  CHECK(ids.size() == size_t(n));
  bool each_once = opaque_seen.size() == size_t(n / 2);
  for (auto &kv : opaque_seen) each_once = each_once && kv.second == 1 && kv.first >= 1;
  CHECK(each_once);
  std::string stats = cl.stats();
  CHECK_MSG(contains(stats, "\"delivered\":" + std::to_string(n)), stats);
  CHECK(cl.close(5000) == 0);
  if (const char *out = env("EVP_CPP_IDS_OUT")) {
    std::ofstream f(out, std::ios::app);
    for (auto &id : ids) f << id << '\n';
  }
}

void test_server_wrong_secret() {
  std::error_code err_cb;
  bool retrying = true;
  std::error_code report_err;
  evpipe::Conf c = server_conf("this-is-not-the-secret-0123456789");
  c.on_error([&](std::error_code e, bool r, std::string_view) {
    err_cb = e;
    retrying = r;
  });
  c.on_delivery([&](const evpipe::DeliveryReport &r) { report_err = r.error(); });
  evpipe::Client cl(std::move(c));
  cl.send(R"({"event_type":"cpp.test","app_id":"cpp-wrong-secret"})");
  for (int i = 0; i < 200 && !report_err; i++) cl.poll(100);
  CHECK_MSG(err_cb == EVP_ERR_AUTH, err_cb.message());
  CHECK(!retrying);
  CHECK_MSG(report_err == EVP_ERR_AUTH, report_err.message());
}

} // namespace

int main() {
  const std::pair<const char *, void (*)()> offline[] = {
      {"error_category", test_error_category},
      {"conf_errors", test_conf_errors},
      {"client_new_errors", test_client_new_errors},
      {"refused_with_path", test_refused_with_path},
      {"reports_to_lambdas", test_reports_to_lambdas},
      {"error_callback_in_poll", test_error_callback_in_poll},
      {"moves", test_moves},
      {"use_after_close", test_use_after_close},
      {"callable_exception", test_callable_exception},
      {"close_from_callable_refused", test_close_from_callable_refused},
      {"thread_mode_concurrent", test_thread_mode_concurrent},
      {"schema", test_schema},
  };
  const std::pair<const char *, void (*)()> online[] = {
      {"server_delivery", test_server_delivery},
      {"server_wrong_secret", test_server_wrong_secret},
  };
  auto run = [](const std::pair<const char *, void (*)()> &t) {
    int before = g_fail;
    auto t0 = std::chrono::steady_clock::now();
    t.second();
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    std::printf("%s %s (%lld ms)\n", g_fail == before ? "ok  " : "FAIL", t.first, (long long)ms);
  };
  for (auto &t : offline) run(t);
  if (env("EVP_CPP_ENDPOINT")) {
    for (auto &t : online) run(t);
  } else {
    std::printf("(no EVP_CPP_ENDPOINT: server tests not run)\n");
  }
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
