/**
 * @file evpipe.hpp
 * @brief Header-only C++17 wrapper over the C API: RAII evpipe::Conf,
 *        evpipe::Client and evpipe::Schema, callbacks as any callable,
 *        exceptions or std::error_code.
 *
 * @code
 *   evpipe::Conf conf;
 *   conf.set("endpoint", "http://127.0.0.1:8080")
 *       .set("client.id", id)
 *       .set("client.secret", secret)
 *       .set("callbacks.mode", "poll")
 *       .on_delivery([&](const evpipe::DeliveryReport &r) { if (!r.ok()) ++failed; });
 *   evpipe::Client client(std::move(conf));
 *   client.send(R"({"event_type":"app.start","app_id":"demo"})");  // throws on refusal
 *   client.flush(5000);                                           // serves the reports
 * @endcode
 *
 * Errors: every fallible call throws evpipe::Error (a std::system_error whose
 * code() is in evpipe::category(), so `e.code() == EVP_ERR_CONF_UNKNOWN`
 * works) and has a non-throwing overload taking a `std::error_code &` last
 * (cleared on success); the overloads that can fail for reasons a code alone
 * does not explain also take an optional `std::string *reason`.
 *
 * Cost: Client::send(std::string_view) is an inlined call of evp_send() with
 * a stack buffer for the reason; the exception is built out of line, on the
 * failure path only.
 *
 * Threads: the objects follow the C API's rules, stated per function. The
 * callables given to Conf::on_delivery(), Conf::on_error() and
 * Conf::on_log() run where the C callbacks run: with
 * `callbacks.mode=poll` on the thread calling Client::poll(),
 * Client::flush() or Client::close(); with `callbacks.mode=thread` (the C
 * default) on the client's background thread. An exception escaping a
 * callable is caught (it must not cross the C library) and rethrown by the
 * next Client::poll(), Client::flush() or Client::close() of that client.
 */
#ifndef EVPIPE_EVPIPE_HPP
#define EVPIPE_EVPIPE_HPP

#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "client.h"
#include "conf.h"
#include "error.h"
#include "schema.h"

/// @cond EVP_INTERNAL
// Failure paths out of line and out of the hot code (GCC and Clang).
#if defined(__GNUC__)
#define EVP_CPP_COLD __attribute__((noinline, cold))
#else
#define EVP_CPP_COLD
#endif

namespace std {
template <> struct is_error_code_enum<evp_err_t> : true_type {};
} // namespace std
/// @endcond

/** The C++ wrapper of libevpipe (this header). */
namespace evpipe {

/**
 * The std::error_category of ::evp_err_t: name() is "evpipe", message() is
 * evp_err2str(). Thread-safety: any thread.
 */
class ErrorCategory final : public std::error_category {
public:
  /** @return "evpipe". */
  const char *name() const noexcept override { return "evpipe"; }
  /**
   * @param ev  an ::evp_err_t value.
   * @return evp_err2str(ev).
   */
  std::string message(int ev) const override { return evp_err2str(static_cast<evp_err_t>(ev)); }
};

/**
 * The one instance of ErrorCategory (function-local static: the same
 * address in every translation unit). Thread-safety: any thread.
 * @return the category.
 */
inline const std::error_category &category() noexcept {
  static const ErrorCategory cat;
  return cat;
}

/**
 * The enum constant's name of an error code of category(), e.g.
 * "EVP_ERR_CONF_UNKNOWN" (evp_err2name()); "" for another category.
 * Thread-safety: any thread.
 * @param ec  the error code.
 * @return static storage, never freed.
 */
inline const char *error_name(const std::error_code &ec) noexcept {
  return ec.category() == category() ? evp_err2name(static_cast<evp_err_t>(ec.value())) : "";
}

} // namespace evpipe

/**
 * std::error_code interop for ::evp_err_t (found by argument-dependent
 * lookup, so `std::error_code ec = EVP_ERR_AUTH;` and `ec == EVP_ERR_AUTH`
 * work). Thread-safety: any thread.
 * @param e  the code.
 * @return the std::error_code of evpipe::category().
 */
inline std::error_code make_error_code(evp_err_t e) noexcept {
  return {static_cast<int>(e), evpipe::category()};
}

namespace evpipe {

using ::make_error_code;

/**
 * The exception of every throwing call: a std::system_error whose code() is
 * the library's ::evp_err_t in category() and whose what() is
 * "EVP_ERR_NAME: reason" (the C API's errstr, or evp_err2str()).
 * Thread-safety: as std::system_error.
 */
class Error : public std::system_error {
public:
  /**
   * @param err     the code.
   * @param reason  the explanation (the C API's errstr); empty: evp_err2str().
   */
  Error(evp_err_t err, std::string_view reason)
      : std::system_error(make_error_code(err), std::string(evp_err2name(err)) + ": " +
                                                    (reason.empty() ? std::string(evp_err2str(err))
                                                                    : std::string(reason))),
        reason_(reason.empty() ? evp_err2str(err) : reason) {}
  /** @return the library's code. */
  evp_err_t err() const noexcept { return static_cast<evp_err_t>(code().value()); }
  /** @return its name, e.g. "EVP_ERR_CONF_UNKNOWN" (static storage). */
  const char *name() const noexcept { return evp_err2name(err()); }
  /** @return the reason alone (without the name prefix what() has). */
  const std::string &reason() const noexcept { return reason_; }

private:
  std::string reason_;
};

/// @cond EVP_INTERNAL
namespace detail {

// Cold, out-of-line failure paths: the callers stay a C call and a branch.
[[noreturn]] EVP_CPP_COLD inline void throw_error(evp_err_t err, const char *reason) {
  throw Error(err, reason ? std::string_view(reason) : std::string_view());
}

// Sets ec (and *reason when given) from a C result; false on error.
inline bool set_result(evp_err_t rc, const char *errstr, std::error_code &ec,
                       std::string *reason) noexcept {
  ec = make_error_code(rc);
  if (reason) {
    try {
      if (rc == EVP_OK)
        reason->clear();
      else
        reason->assign(errstr && *errstr ? errstr : evp_err2str(rc));
    } catch (...) { // keep the code; the text is best effort
    }
  }
  return rc == EVP_OK;
}

// A NUL-terminated copy of a string_view (the C API takes C strings): on the
// stack when short, else on the heap.
class CStr {
public:
  explicit CStr(std::string_view s) {
    if (s.size() < sizeof small_) {
      std::memcpy(small_, s.data(), s.size());
      small_[s.size()] = '\0';
      p_ = small_;
    } else {
      big_.assign(s.data(), s.size());
      p_ = big_.c_str();
    }
  }
  CStr(const CStr &) = delete;
  CStr &operator=(const CStr &) = delete;
  // The value may be client.secret: wipe this copy as the C library wipes
  // its own (volatile, so the stores are not dropped as dead).
  ~CStr() {
    volatile char *v = small_;
    for (std::size_t i = 0; i < sizeof small_; i++) v[i] = 0;
    volatile char *b = big_.empty() ? nullptr : &big_[0];
    for (std::size_t i = 0; b && i < big_.size(); i++) b[i] = 0;
  }
  const char *c_str() const noexcept { return p_; }

private:
  char small_[256];
  std::string big_;
  const char *p_;
};

} // namespace detail
/// @endcond

class Client;

/**
 * A read-only view of one delivery report (an evp_delivery_t *), given to
 * the delivery callables. Valid only during the callback, on its thread:
 * copy what you keep (the string_views point into the report).
 */
class DeliveryReport {
public:
  /** @param r  the C report (borrowed). */
  explicit DeliveryReport(const evp_delivery_t *r) noexcept : r_(r) {}
  /** @return evp_delivery_status(). */
  evp_delivery_status_t status() const noexcept { return evp_delivery_status(r_); }
  /** @return true when the event was delivered. */
  bool ok() const noexcept { return status() == EVP_DELIVERY_OK; }
  /** @return evp_delivery_error() as a std::error_code (zero when delivered). */
  std::error_code error() const noexcept { return make_error_code(evp_delivery_error(r_)); }
  /** @return evp_delivery_reason(), empty when delivered. */
  std::string_view reason() const noexcept {
    const char *s = evp_delivery_reason(r_);
    return s ? std::string_view(s) : std::string_view();
  }
  /** @return the event's event_id as written in the event (may be empty). */
  std::string_view event_id() const noexcept {
    size_t n = 0;
    const char *s = evp_delivery_event_id(r_, &n);
    return s ? std::string_view(s, n) : std::string_view();
  }
  /** @return the msg_opaque given to Client::send() (nullptr otherwise). */
  void *opaque() const noexcept { return evp_delivery_opaque(r_); }
  /** @return acceptance-to-outcome time (evp_delivery_latency_us()). */
  std::chrono::microseconds latency() const noexcept {
    return std::chrono::microseconds(evp_delivery_latency_us(r_));
  }
  /** @return how many requests carried the event. */
  int attempts() const noexcept { return evp_delivery_attempts(r_); }
  /** @return the HTTP status of the last response, 0 when none came. */
  int http_status() const noexcept { return evp_delivery_http_status(r_); }
  /** @return true when an earlier client put the event in the spool. */
  bool from_spool() const noexcept { return evp_delivery_from_spool(r_) != 0; }
  /** @return the C report, for the evp_delivery_*() functions. */
  const evp_delivery_t *c_ptr() const noexcept { return r_; }

private:
  const evp_delivery_t *r_;
};

/** Delivery callable: any `void(const DeliveryReport &)`. */
using DeliveryFn = std::function<void(const DeliveryReport &)>;
/** Error callable: `void(std::error_code err, bool retrying, std::string_view reason)`
 *  (see evp_error_cb_t). */
using ErrorFn = std::function<void(std::error_code, bool, std::string_view)>;
/** Log callable: `void(int level, std::string_view msg)` (an ::evp_log_level_t
 *  level; runs on whichever thread logs, see evp_log_cb_t). */
using LogFn = std::function<void(int, std::string_view)>;

/**
 * A client configuration: an owned evp_conf_t plus the callables the Client
 * made from it will call. Copyable (evp_conf_dup() and a copy of the
 * callables) and movable (a moved-from Conf holds nothing: every call on
 * it but assignment and destruction is an error). Thread-safety: as
 * evp_conf_t: no concurrent use of one Conf; distinct Confs are independent.
 */
class Conf {
public:
  /** A configuration with every property at its default.
   *  @throws Error EVP_ERR_NOMEM. */
  Conf() : c_(evp_conf_new()) {
    if (!c_) detail::throw_error(EVP_ERR_NOMEM, nullptr);
  }
  /** A deep copy (evp_conf_dup(), and copies of the callables).
   *  @param o  the configuration to copy.
   *  @throws Error EVP_ERR_NOMEM. */
  Conf(const Conf &o)
      : c_(o.c_ ? evp_conf_dup(o.c_) : nullptr), delivery_(o.delivery_), error_(o.error_),
        log_(o.log_) {
    if (o.c_ && !c_) detail::throw_error(EVP_ERR_NOMEM, nullptr);
  }
  /** Takes @p o's configuration; @p o is left empty.
   *  @param o  the configuration to move from. */
  Conf(Conf &&o) noexcept
      : c_(std::exchange(o.c_, nullptr)), delivery_(std::move(o.delivery_)),
        error_(std::move(o.error_)), log_(std::move(o.log_)) {}
  /** Copy-and-swap assignment.
   *  @param o  the configuration to copy or move.
   *  @return *this. */
  Conf &operator=(Conf o) noexcept {
    std::swap(c_, o.c_);
    std::swap(delivery_, o.delivery_);
    std::swap(error_, o.error_);
    std::swap(log_, o.log_);
    return *this;
  }
  /** evp_conf_destroy() (wipes secrets). */
  ~Conf() { evp_conf_destroy(c_); }

  /**
   * Set a property from its text form (evp_conf_set(); names in
   * docs/CONFIGURATION.md). Chains.
   * @param name   the property.
   * @param value  its text.
   * @return *this.
   * @throws Error EVP_ERR_CONF_UNKNOWN, EVP_ERR_CONF_INVALID,
   *         EVP_ERR_INVALID_ARG (empty Conf), EVP_ERR_NOMEM; what() names
   *         the property (secret values never appear).
   */
  Conf &set(std::string_view name, std::string_view value) {
    char err[512];
    evp_err_t rc = set_c(name, value, err, sizeof err);
    if (rc != EVP_OK) detail::throw_error(rc, err);
    return *this;
  }
  /**
   * set() without exceptions.
   * @param name    the property.
   * @param value   its text.
   * @param ec      receives the code (cleared on success).
   * @param reason  receives the C API's reason when not NULL.
   * @return *this.
   */
  Conf &set(std::string_view name, std::string_view value, std::error_code &ec,
            std::string *reason = nullptr) noexcept {
    char err[512] = "";
    evp_err_t rc;
    try {
      rc = set_c(name, value, err, sizeof err);
    } catch (const std::bad_alloc &) {
      rc = EVP_ERR_NOMEM;
    }
    detail::set_result(rc, err, ec, reason);
    return *this;
  }
  /**
   * A property's value as text (evp_conf_get(); secrets read "[redacted]").
   * @param name  the property.
   * @return the value.
   * @throws Error EVP_ERR_CONF_UNKNOWN, EVP_ERR_INVALID_ARG.
   */
  std::string get(std::string_view name) const {
    std::error_code ec;
    std::string v = get(name, ec);
    if (ec) detail::throw_error(static_cast<evp_err_t>(ec.value()), nullptr);
    return v;
  }
  /**
   * get() without exceptions.
   * @param name  the property.
   * @param ec    receives the code (cleared on success).
   * @return the value, empty on error.
   */
  std::string get(std::string_view name, std::error_code &ec) const noexcept {
    try {
      detail::CStr n(name);
      size_t size = 0;
      evp_err_t rc = evp_conf_get(c_, n.c_str(), nullptr, &size);
      std::string v;
      while (rc == EVP_OK || rc == EVP_ERR_TOO_LARGE) {
        v.resize(size);
        rc = evp_conf_get(c_, n.c_str(), &v[0], &size);
        if (rc == EVP_OK) {
          v.resize(size - 1);
          break;
        }
      }
      ec = make_error_code(rc);
      return rc == EVP_OK ? v : std::string();
    } catch (const std::bad_alloc &) {
      ec = make_error_code(EVP_ERR_NOMEM);
      return std::string();
    }
  }

  /**
   * The delivery callable of the clients made from this Conf (replaces an
   * earlier one). Runs once per accepted event sent without a per-event
   * callable (and for reports read back from a spool), on the thread that
   * `callbacks.mode` says (see the file comment). Must not call flush(),
   * poll() or close() of its client.
   * @param fn  any callable `void(const DeliveryReport &)` (copied into the
   *            Client when it is created; a copied Conf copies it).
   * @return *this.
   */
  template <class F> Conf &on_delivery(F &&fn) {
    delivery_ = DeliveryFn(std::forward<F>(fn));
    return *this;
  }
  /**
   * The error callable (see evp_error_cb_t): the client lost the service
   * (@c retrying true) or the service refused its credentials or URL.
   * Same thread rules as on_delivery().
   * @param fn  any callable `void(std::error_code, bool retrying, std::string_view reason)`.
   * @return *this.
   */
  template <class F> Conf &on_error(F &&fn) {
    error_ = ErrorFn(std::forward<F>(fn));
    return *this;
  }
  /**
   * The log callable (see evp_log_cb_t): runs on whichever thread logs, in
   * both callback modes, so it must be thread-safe.
   * @param fn  any callable `void(int level, std::string_view msg)`.
   * @return *this.
   */
  template <class F> Conf &on_log(F &&fn) {
    log_ = LogFn(std::forward<F>(fn));
    return *this;
  }

  /** @return the C configuration (still owned by this Conf). */
  evp_conf_t *c_ptr() const noexcept { return c_; }

private:
  friend class Client;
  evp_err_t set_c(std::string_view name, std::string_view value, char *err, size_t n) {
    detail::CStr nm(name), v(value);
    return evp_conf_set(c_, nm.c_str(), v.c_str(), err, n);
  }

  evp_conf_t *c_;
  DeliveryFn delivery_;
  ErrorFn error_;
  LogFn log_;
};

/// @cond EVP_INTERNAL
namespace detail {

// What the C client's opaque points to: owned by the Client (through a
// unique_ptr, so moving the Client never moves it) and destroyed only after
// evp_client_destroy() returned, when no callback can run any more.
struct ClientState {
  DeliveryFn delivery;
  ErrorFn error;
  LogFn log;

  // Per-event callables: the msg_opaque of their events. A report's opaque
  // is looked up here only while some are pending (the counter), so sends
  // with a plain opaque pay nothing for the feature.
  // Type-erased without std::function, so move-only callables work too.
  struct Pending {
    virtual ~Pending() = default;
    virtual void run(const DeliveryReport &r) = 0;
  };
  template <class F> struct PendingFn final : Pending {
    explicit PendingFn(F &&f) : fn(std::move(f)) {}
    explicit PendingFn(const F &f) : fn(f) {}
    void run(const DeliveryReport &r) override { fn(r); }
    F fn;
  };
  std::mutex mu;
  std::unordered_set<void *> pending;
  std::atomic<size_t> npending{0};

  // The first exception a callable threw, rethrown on the application's
  // thread by the next poll(), flush() or close().
  std::exception_ptr failure;

  ~ClientState() {
    for (void *p : pending) delete static_cast<Pending *>(p);
  }

  void keep_failure() noexcept {
    std::lock_guard<std::mutex> g(mu);
    if (!failure) failure = std::current_exception();
  }
  void rethrow_failure() {
    std::exception_ptr f;
    {
      std::lock_guard<std::mutex> g(mu);
      f = std::exchange(failure, nullptr);
    }
    if (f) std::rethrow_exception(f);
  }
  Pending *take_pending(void *opaque) noexcept {
    if (!opaque || npending.load(std::memory_order_acquire) == 0) return nullptr;
    std::lock_guard<std::mutex> g(mu);
    if (pending.erase(opaque) == 0) return nullptr;
    npending.fetch_sub(1, std::memory_order_release);
    return static_cast<Pending *>(opaque);
  }

  static void on_delivery(evp_client_t *, const evp_delivery_t *r, void *opaque) noexcept {
    auto *st = static_cast<ClientState *>(opaque);
    try {
      DeliveryReport rep(r);
      if (Pending *p = st->take_pending(evp_delivery_opaque(r))) {
        std::unique_ptr<Pending> own(p);
        own->run(rep);
      } else if (st->delivery) {
        st->delivery(rep);
      }
    } catch (...) {
      st->keep_failure();
    }
  }
  static void on_error(evp_err_t err, int retrying, const char *reason, void *opaque) noexcept {
    auto *st = static_cast<ClientState *>(opaque);
    try {
      if (st->error)
        st->error(make_error_code(err), retrying != 0,
                  reason ? std::string_view(reason) : std::string_view());
    } catch (...) {
      st->keep_failure();
    }
  }
  static void on_log(int level, const char *msg, void *opaque) noexcept {
    auto *st = static_cast<ClientState *>(opaque);
    try {
      if (st->log) st->log(level, msg ? std::string_view(msg) : std::string_view());
    } catch (...) {
      st->keep_failure();
    }
  }
};

} // namespace detail
/// @endcond

/**
 * A client (evp_client_t) and the callables it calls. Move-only: moving it
 * moves the handle and the pointer to its callables' heap state, which the
 * C client keeps using, so a moved Client keeps working and the moved-from
 * one is closed (valid() false). The destructor closes it (close() with
 * close_timeout(), 10 s by default, errors ignored).
 *
 * Thread-safety: send(), pause(), resume(), stats(), poll_fd() from any
 * thread concurrently; poll() and flush() from any thread but not
 * concurrently with close() or the destructor; moving, assigning,
 * close() and the destructor need exclusive use. Never close or destroy a
 * Client from one of its own callables (the C library refuses: close()
 * throws EVP_ERR_STATE; the destructor then leaks the client rather than
 * free what is still in use).
 */
class Client {
public:
  /**
   * Create a client from a copy of @p conf (the Conf stays usable for other
   * clients; its callables are copied). See evp_client_create().
   * @param conf  the configuration.
   * @throws Error with the code and reason of evp_client_create()
   *         (EVP_ERR_CONF_INVALID for a missing endpoint or credentials,
   *         EVP_ERR_IO for an unreadable schema file, EVP_ERR_PERMISSION for
   *         a spool directory open to others, ...).
   */
  explicit Client(const Conf &conf) : Client(Conf(conf)) {}
  /**
   * Create a client taking @p conf (its configuration and callables; @p
   * conf is left empty).
   * @param conf  the configuration (unchanged when this throws).
   * @throws Error as Client(const Conf &).
   */
  explicit Client(Conf &&conf) {
    std::error_code ec;
    std::string why;
    create(std::move(conf), ec, &why);
    if (ec) detail::throw_error(static_cast<evp_err_t>(ec.value()), why.c_str());
  }
  /**
   * Client(Conf &&) without exceptions: on failure, valid() is false.
   * @param conf    the configuration (taken on success; unchanged on failure).
   * @param ec      receives the code (cleared on success).
   * @param reason  receives the C API's reason when not NULL.
   */
  Client(Conf &&conf, std::error_code &ec, std::string *reason = nullptr) noexcept {
    create(std::move(conf), ec, reason);
  }
  /** A Client holding nothing (valid() false). */
  Client() noexcept = default;
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;
  /** Takes @p o's client and callables; @p o is left closed.
   *  @param o  the client to move from. */
  Client(Client &&o) noexcept
      : c_(std::exchange(o.c_, nullptr)), st_(std::move(o.st_)), close_ms_(o.close_ms_) {}
  /** Closes this client (as the destructor), then takes @p o's.
   *  @param o  the client to move from.
   *  @return *this. */
  Client &operator=(Client &&o) noexcept {
    if (this != &o) {
      close_quietly();
      c_ = std::exchange(o.c_, nullptr);
      st_ = std::move(o.st_);
      close_ms_ = o.close_ms_;
    }
    return *this;
  }
  /** close(close_timeout()), ignoring errors and a callable's exception. */
  ~Client() { close_quietly(); }

  /** @return true while the client is open (created and not closed or moved from). */
  bool valid() const noexcept { return c_ != nullptr; }
  /** @return the C client (owned by this Client), nullptr when not valid(). */
  evp_client_t *c_ptr() const noexcept { return c_; }

  /**
   * Validate and queue one event (evp_send()): a direct call of the C
   * function, plus a branch. Thread-safety: any thread.
   * @param json  the event, a JSON object (need not be NUL-terminated; copied).
   * @throws Error EVP_ERR_INVALID_EVENT / EVP_ERR_JSON (what() has the JSON
   *         path), EVP_ERR_QUEUE_FULL, EVP_ERR_TOO_LARGE, EVP_ERR_IO,
   *         EVP_ERR_STATE (closed, or a forked child)...
   */
  void send(std::string_view json) {
    char err[512];
    evp_err_t rc = evp_send(c_, json.data(), json.size(), err, sizeof err);
    if (rc != EVP_OK) fail(rc, err);
  }
  /**
   * send() with a per-event pointer that comes back in the event's report
   * (DeliveryReport::opaque(); evp_send_opaque()). The library never
   * dereferences it. Thread-safety: any thread.
   * @param json    the event.
   * @param opaque  the application's pointer or integer id.
   * @throws Error as send().
   */
  void send(std::string_view json, void *opaque) {
    char err[512];
    evp_err_t rc = evp_send_opaque(c_, json.data(), json.size(), opaque, err, sizeof err);
    if (rc != EVP_OK) fail(rc, err);
  }
  /**
   * send() with a callable for this event's report only: it runs instead of
   * the Conf's on_delivery() callable, exactly once if the event is accepted
   * (never if send throws), on the thread `callbacks.mode` says. Costs one
   * allocation; if the client closes with the event left in its spool, the
   * callable is destroyed without running. With `delivery.report.mode=errors`
   * a delivered event's callable does not run and is only destroyed at
   * close: use plain send() there. Thread-safety: any thread.
   * @param json  the event.
   * @param fn    any callable `void(const DeliveryReport &)` (moved or copied).
   * @throws Error as send().
   */
  template <class F, class = std::enable_if_t<std::is_invocable_v<F &, const DeliveryReport &>>>
  void send(std::string_view json, F &&fn) {
    std::error_code ec;
    std::string why;
    send(json, std::forward<F>(fn), ec, &why);
    if (ec) detail::throw_error(static_cast<evp_err_t>(ec.value()), why.c_str());
  }

  /**
   * send() without exceptions.
   * @param json    the event.
   * @param ec      receives the code (cleared on success).
   * @param reason  receives the C API's reason (the JSON path...) when not NULL.
   * @return true when queued.
   */
  bool send(std::string_view json, std::error_code &ec, std::string *reason = nullptr) noexcept {
    char err[512];
    evp_err_t rc = evp_send(c_, json.data(), json.size(), err, sizeof err);
    if (rc == EVP_OK) {
      ec.clear();
      return true;
    }
    return result(rc, err, ec, reason);
  }
  /**
   * send(json, opaque) without exceptions.
   * @param json    the event.
   * @param opaque  the application's pointer or integer id.
   * @param ec      receives the code (cleared on success).
   * @param reason  receives the C API's reason when not NULL.
   * @return true when queued.
   */
  bool send(std::string_view json, void *opaque, std::error_code &ec,
            std::string *reason = nullptr) noexcept {
    char err[512];
    evp_err_t rc = evp_send_opaque(c_, json.data(), json.size(), opaque, err, sizeof err);
    if (rc == EVP_OK) {
      ec.clear();
      return true;
    }
    return result(rc, err, ec, reason);
  }
  /**
   * send(json, fn) without exceptions of its own (only what copying or
   * moving @p fn throws propagates; std::bad_alloc becomes EVP_ERR_NOMEM).
   * @param json    the event.
   * @param fn      the event's delivery callable.
   * @param ec      receives the code (cleared on success).
   * @param reason  receives the C API's reason when not NULL.
   * @return true when queued.
   */
  template <class F, class = std::enable_if_t<std::is_invocable_v<F &, const DeliveryReport &>>>
  bool send(std::string_view json, F &&fn, std::error_code &ec, std::string *reason = nullptr) {
    if (!st_) return result(EVP_ERR_STATE, "client is closed", ec, reason);
    using Pending = detail::ClientState::Pending;
    std::unique_ptr<Pending> p;
    try {
      p.reset(new detail::ClientState::PendingFn<std::decay_t<F>>(std::forward<F>(fn)));
      std::lock_guard<std::mutex> g(st_->mu);
      st_->pending.insert(p.get());
      st_->npending.fetch_add(1, std::memory_order_release);
    } catch (const std::bad_alloc &) {
      return result(EVP_ERR_NOMEM, nullptr, ec, reason);
    }
    char err[512];
    evp_err_t rc = evp_send_opaque(c_, json.data(), json.size(), p.get(), err, sizeof err);
    if (rc == EVP_OK) {
      p.release(); // the report (or ~ClientState) frees it
      ec.clear();
      return true;
    }
    st_->take_pending(p.get()); // no report will come
    return result(rc, err, ec, reason);
  }

  /**
   * Send everything now and wait up to @p timeout_ms until nothing is
   * pending (evp_flush(); in poll mode it runs the callables meanwhile), then
   * rethrow a callable's exception if one threw. Thread-safety: any thread,
   * not from a callable, not concurrently with close().
   * @param timeout_ms  0: do not wait; negative: no limit.
   * @return the events still pending.
   * @throws Error EVP_ERR_STATE (closed, forked child, from a callable); or
   *         a callable's exception.
   */
  long flush(int timeout_ms) {
    return served(evp_flush(c_, timeout_ms),
                  "flush refused (client closed, forked child, or a callback)");
  }
  /**
   * flush() without exceptions (a callable's exception stays pending).
   * @param timeout_ms  as flush().
   * @param ec          receives EVP_ERR_STATE on refusal (cleared on success).
   * @return the events still pending, -1 on refusal.
   */
  long flush(int timeout_ms, std::error_code &ec) noexcept {
    return refused_if_negative(evp_flush(c_, timeout_ms), ec);
  }
  /**
   * Poll mode: run the waiting callables on this thread (evp_poll()), then
   * rethrow a callable's exception if one threw. Thread-safety: any thread,
   * also concurrently; not concurrently with close().
   * @param timeout_ms  how long to wait for one (0: not at all, negative: no limit).
   * @return how many callbacks ran.
   * @throws Error EVP_ERR_STATE (not in poll mode, closed, forked child, from a callable).
   */
  long poll(int timeout_ms) {
    return served(evp_poll(c_, timeout_ms),
                  "poll refused (not callbacks.mode=poll, closed, or a callback)");
  }
  /**
   * poll() without exceptions (a callable's exception stays pending).
   * @param timeout_ms  as poll().
   * @param ec          receives EVP_ERR_STATE on refusal (cleared on success).
   * @return how many callbacks ran, -1 on refusal.
   */
  long poll(int timeout_ms, std::error_code &ec) noexcept {
    return refused_if_negative(evp_poll(c_, timeout_ms), ec);
  }
  /**
   * Poll mode: a descriptor readable while callbacks wait (evp_poll_fd());
   * owned by the client (never read, write or close it). Thread-safety: any thread.
   * @return the descriptor.
   * @throws Error EVP_ERR_STATE (not in poll mode, closed).
   */
  int poll_fd() const {
    int fd = evp_poll_fd(c_);
    if (fd < 0) fail(EVP_ERR_STATE, "no poll descriptor (not callbacks.mode=poll, or closed)");
    return fd;
  }
  /**
   * poll_fd() without exceptions.
   * @param ec  receives EVP_ERR_STATE on refusal (cleared on success).
   * @return the descriptor, -1 on refusal.
   */
  int poll_fd(std::error_code &ec) const noexcept {
    return static_cast<int>(refused_if_negative(evp_poll_fd(c_), ec));
  }
  /**
   * Stop sending until resume() (evp_client_pause()); send() still queues.
   * Thread-safety: any thread, also from a callable.
   * @throws Error EVP_ERR_STATE (closed, forked child).
   */
  void pause() {
    if (evp_client_pause(c_) != 0) fail(EVP_ERR_STATE, "pause refused");
  }
  /**
   * pause() without exceptions.
   * @param ec  receives EVP_ERR_STATE on refusal (cleared on success).
   */
  void pause(std::error_code &ec) noexcept {
    ec = evp_client_pause(c_) != 0 ? make_error_code(EVP_ERR_STATE) : std::error_code();
  }
  /**
   * Resume sending (evp_client_resume()). Thread-safety: any thread, also
   * from a callable.
   * @throws Error EVP_ERR_STATE (closed, forked child).
   */
  void resume() {
    if (evp_client_resume(c_) != 0) fail(EVP_ERR_STATE, "resume refused");
  }
  /**
   * resume() without exceptions.
   * @param ec  receives EVP_ERR_STATE on refusal (cleared on success).
   */
  void resume(std::error_code &ec) noexcept {
    ec = evp_client_resume(c_) != 0 ? make_error_code(EVP_ERR_STATE) : std::error_code();
  }
  /**
   * Counters and gauges as JSON text (evp_client_stats()). Thread-safety:
   * any thread.
   * @return the JSON object.
   * @throws Error EVP_ERR_STATE (closed), EVP_ERR_NOMEM.
   */
  std::string stats() const {
    std::error_code ec;
    std::string s = stats(ec);
    if (ec) fail(static_cast<evp_err_t>(ec.value()), nullptr);
    return s;
  }
  /**
   * stats() without exceptions.
   * @param ec  receives EVP_ERR_STATE or EVP_ERR_NOMEM (cleared on success).
   * @return the JSON object, empty on error.
   */
  std::string stats(std::error_code &ec) const noexcept {
    if (!c_) {
      ec = make_error_code(EVP_ERR_STATE);
      return std::string();
    }
    std::unique_ptr<char, void (*)(void *)> s(evp_client_stats(c_), evp_free);
    try {
      if (s) {
        ec.clear();
        return std::string(s.get());
      }
    } catch (const std::bad_alloc &) {}
    ec = make_error_code(EVP_ERR_NOMEM);
    return std::string();
  }

  /**
   * Close the client (evp_client_destroy()): keep sending for up to
   * @p timeout_ms, report every remaining event (in poll mode on this
   * thread), join the background thread, free the C client, then the
   * callables. Closing a closed Client does nothing and returns 0.
   * Afterwards send() throws EVP_ERR_STATE. Thread-safety: exclusive use,
   * never from one of this client's callables.
   * @param timeout_ms  how long to keep sending (0: not at all).
   * @return the events reported undelivered (with a spool: left in it).
   * @throws Error EVP_ERR_STATE (from a callable or in a forked child:
   *         nothing is done then); or a callable's exception.
   */
  long close(int timeout_ms) {
    std::error_code ec;
    long n = close(timeout_ms, ec);
    if (ec) fail(EVP_ERR_STATE, "close refused (from a callback, or a forked child)");
    if (st_) {
      std::unique_ptr<detail::ClientState> st(std::move(st_));
      st->rethrow_failure();
    }
    return n;
  }
  /**
   * close() without exceptions (a callable's exception is dropped).
   * @param timeout_ms  as close().
   * @param ec          receives EVP_ERR_STATE on refusal (cleared on success).
   * @return as close(), -1 on refusal.
   */
  long close(int timeout_ms, std::error_code &ec) noexcept {
    ec.clear();
    if (!c_) return 0;
    long n = evp_client_destroy(c_, timeout_ms);
    if (n < 0) { // from a callable or in a forked child: nothing was done
      ec = make_error_code(EVP_ERR_STATE);
      return -1;
    }
    c_ = nullptr;
    // st_ is kept until here (reports were served during the destroy);
    // close() frees it after rethrowing, the destructor with the Client.
    return n;
  }
  /** @return the timeout the destructor and move-assignment close with (ms). */
  int close_timeout() const noexcept { return close_ms_; }
  /** @param ms  the timeout the destructor and move-assignment close with. */
  void close_timeout(int ms) noexcept { close_ms_ = ms; }

private:
  void create(Conf &&conf, std::error_code &ec, std::string *reason) noexcept {
    char err[512] = "";
    if (!conf.c_) {
      result(EVP_ERR_INVALID_ARG, "empty Conf (moved from)", ec, reason);
      return;
    }
    std::unique_ptr<detail::ClientState> st;
    try {
      st.reset(new detail::ClientState);
    } catch (const std::bad_alloc &) {
      result(EVP_ERR_NOMEM, nullptr, ec, reason);
      return;
    }
    st->delivery = std::move(conf.delivery_);
    st->error = std::move(conf.error_);
    st->log = std::move(conf.log_);
    evp_conf_set_delivery_cb(conf.c_, &detail::ClientState::on_delivery, st.get());
    evp_conf_set_error_cb(conf.c_, st->error ? &detail::ClientState::on_error : nullptr);
    evp_conf_set_log_cb(conf.c_, st->log ? &detail::ClientState::on_log : nullptr);
    evp_conf_set_opaque(conf.c_, st.get());
    evp_err_t code = EVP_OK;
    c_ = evp_client_create(conf.c_, &code, err, sizeof err);
    if (!c_) {
      result(code, err, ec, reason);
      // The Conf is still the caller's: give its callables back, and leave
      // no pointer to the state freed on return in its C configuration.
      evp_conf_set_delivery_cb(conf.c_, nullptr, nullptr);
      evp_conf_set_error_cb(conf.c_, nullptr);
      evp_conf_set_log_cb(conf.c_, nullptr);
      evp_conf_set_opaque(conf.c_, nullptr);
      conf.delivery_ = std::move(st->delivery);
      conf.error_ = std::move(st->error);
      conf.log_ = std::move(st->log);
      return;
    }
    conf.c_ = nullptr; // taken by the client
    st_ = std::move(st);
    ec.clear();
  }
  void close_quietly() noexcept {
    std::error_code ec;
    if (close(close_ms_, ec) < 0) {
      // The C client still runs (closed from its own callable) or belongs
      // to the parent (forked child): leak it and its callables rather than
      // free what it may still call.
      c_ = nullptr;
      (void)st_.release();
    }
    st_.reset();
  }
  // flush() and poll(): callbacks ran, so first a callable's exception.
  long served(long n, const char *refusal) {
    if (st_) st_->rethrow_failure();
    if (n < 0) fail(EVP_ERR_STATE, refusal);
    return n;
  }
  // The C API's -1 of flush, poll, poll_fd: the client refused (closed,
  // not in poll mode, forked child, called from a callback).
  static long refused_if_negative(long n, std::error_code &ec) noexcept {
    ec = n < 0 ? make_error_code(EVP_ERR_STATE) : std::error_code();
    return n;
  }
  bool result(evp_err_t rc, const char *err, std::error_code &ec,
              std::string *reason) const noexcept {
    if (!c_ && rc == EVP_ERR_INVALID_ARG) {
      rc = EVP_ERR_STATE;
      err = "client is closed";
    }
    return detail::set_result(rc, err, ec, reason);
  }
  [[noreturn]] EVP_CPP_COLD void fail(evp_err_t rc, const char *err) const {
    if (!c_ && (rc == EVP_ERR_INVALID_ARG || rc == EVP_ERR_STATE))
      detail::throw_error(EVP_ERR_STATE, "client is closed");
    detail::throw_error(rc, err);
  }

  evp_client_t *c_ = nullptr;
  std::unique_ptr<detail::ClientState> st_;
  int close_ms_ = 10000;
};

/** One validation error (evp_schema_ctx_error_*()). */
struct ValidationError {
  std::string instance_path; /**< JSON pointer into the instance, e.g. "/app_id". */
  std::string schema_path;   /**< JSON pointer of the failing keyword in the schema. */
  std::string keyword;       /**< The keyword, e.g. "required". */
  std::string message;       /**< A human-readable message. */
};

/**
 * A compiled JSON Schema (evp_schema_t). Immutable: validate() from any
 * number of threads at once. Move-only.
 */
class Schema {
public:
  /**
   * Compile a schema (evp_schema_compile() with the default loader).
   * @param json  the schema document.
   * @throws Error EVP_ERR_JSON, EVP_ERR_SCHEMA_INVALID, EVP_ERR_SCHEMA_REF,
   *         EVP_ERR_SCHEMA_REGEX... with the JSON pointer of the fault.
   */
  explicit Schema(std::string_view json) {
    std::error_code ec;
    std::string why;
    compile(json, ec, &why);
    if (ec) detail::throw_error(static_cast<evp_err_t>(ec.value()), why.c_str());
  }
  /**
   * Schema(json) without exceptions: on failure valid() is false.
   * @param json    the schema document.
   * @param ec      receives the code (cleared on success).
   * @param reason  receives the reason when not NULL.
   */
  Schema(std::string_view json, std::error_code &ec, std::string *reason = nullptr) noexcept {
    compile(json, ec, reason);
  }
  Schema(const Schema &) = delete;
  Schema &operator=(const Schema &) = delete;
  /** @param o  the schema to move from (left empty). */
  Schema(Schema &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  /** @param o  the schema to move from (left empty).
   *  @return *this. */
  Schema &operator=(Schema &&o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  /** evp_schema_destroy(). */
  ~Schema() { evp_schema_destroy(s_); }
  /** @return true when compiled. */
  bool valid() const noexcept { return s_ != nullptr; }
  /** @return the C schema (owned by this Schema). */
  const evp_schema_t *c_ptr() const noexcept { return s_; }

  /**
   * Validate a document; an empty result means valid. Text that is not
   * acceptable JSON (EVP_ERR_JSON, EVP_ERR_TOO_DEEP, EVP_ERR_TOO_LARGE)
   * gives one error explaining it, like the C API. Uses a workspace of its
   * own per call. Thread-safety: any thread, concurrently.
   * @param json        the instance.
   * @param max_errors  how many errors to collect (1: stop at the first).
   * @return the errors.
   * @throws Error EVP_ERR_NOMEM, EVP_ERR_INVALID_ARG (empty Schema, or
   *         max_errors out of range).
   */
  std::vector<ValidationError> validate(std::string_view json, size_t max_errors = 1) const {
    std::unique_ptr<evp_schema_ctx_t, void (*)(evp_schema_ctx_t *)> ctx(evp_schema_ctx_new(),
                                                                        evp_schema_ctx_destroy);
    if (!ctx) detail::throw_error(EVP_ERR_NOMEM, nullptr);
    evp_err_t rc = evp_schema_ctx_set_limits(ctx.get(), 0, 0, max_errors);
    if (rc != EVP_OK) detail::throw_error(rc, "max_errors out of range");
    rc = evp_schema_validate(s_, ctx.get(), json.data(), json.size());
    std::vector<ValidationError> out;
    if (rc == EVP_OK) return out;
    if (rc == EVP_ERR_NOMEM || rc == EVP_ERR_INVALID_ARG) detail::throw_error(rc, nullptr);
    size_t n = evp_schema_ctx_error_count(ctx.get());
    out.reserve(n);
    auto str = [](const char *s) { return std::string(s ? s : ""); };
    for (size_t i = 0; i < n; i++)
      out.push_back({str(evp_schema_ctx_error_instance_path(ctx.get(), i)),
                     str(evp_schema_ctx_error_schema_path(ctx.get(), i)),
                     str(evp_schema_ctx_error_keyword(ctx.get(), i)),
                     str(evp_schema_ctx_error_message(ctx.get(), i))});
    return out;
  }

private:
  void compile(std::string_view json, std::error_code &ec, std::string *reason) noexcept {
    char err[512] = "";
    evp_err_t rc = EVP_OK;
    s_ = evp_schema_compile(json.data(), json.size(), nullptr, &rc, err, sizeof err);
    detail::set_result(s_ ? EVP_OK : rc, err, ec, reason);
  }

  evp_schema_t *s_ = nullptr;
};

} // namespace evpipe

#endif /* EVPIPE_EVPIPE_HPP */
