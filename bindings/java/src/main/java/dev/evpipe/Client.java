package dev.evpipe;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongFunction;

/**
 * The event client (client.h): validates and queues events, delivers them in
 * the background, and reports each accepted event's outcome exactly once to
 * the {@link DeliveryListener}s.
 *
 * <pre>{@code
 * try (Client client = Client.builder(conf).onDelivery(r -> log(r)).build()) {
 *   client.send("{\"event_type\":\"app.opened\",\"app_id\":\"shop\"}");
 *   client.flush(Duration.ofSeconds(5));
 * }
 * }</pre>
 *
 * <p>Threads: the client runs libevpipe with {@code callbacks.mode=poll} (whatever the Conf
 * says) and starts one daemon Java thread, "evpipe-poll-N", that calls the native poll: listeners
 * run there, or on a thread inside {@link #flush} or {@link #close}, never on a library thread.
 * All methods may be called from any thread.
 *
 * <p>Lifecycle: {@link #close()} delivers for up to the close timeout, reports what is left as
 * failed (or leaves it in the spool with {@code spool.dir}), stops the poll thread and frees the
 * native client. It is idempotent; any other method afterwards throws IllegalStateException. A
 * client never closed is closed with timeout 0 by the "evpipe-reaper" thread once it is
 * unreachable, which it is not while a listener refers to it: close clients explicitly.
 */
public final class Client implements AutoCloseable {
  private static final AtomicInteger THREADS = new AtomicInteger();
  private static final int POLL_MS = 100;
  /** The longest native flush: how long a close() may wait for a flush() on another thread. */
  private static final int FLUSH_SLICE_MS = 100;

  private final State state;
  private final Reaper.Cleanable cleanable;

  /**
   * The native client and its poll thread. Everything the poll thread and the reaper use lives
   * here, not in Client, so that an unused Client can become unreachable.
   */
  private static final class State implements Runnable {
    final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    final Dispatcher dispatcher;
    /** 0 once destroyed: a use that slipped past `closed` gets EVP_ERR_STATE, not freed memory. */
    volatile long handle;
    volatile boolean closed;
    volatile boolean stopPolling;
    Thread poller;
    volatile int closeTimeoutMs;
    volatile boolean explicitClose;
    volatile long undelivered;

    State(long handle, Dispatcher dispatcher, int closeTimeoutMs) {
      this.handle = handle;
      this.dispatcher = dispatcher;
      this.closeTimeoutMs = closeTimeoutMs;
    }

    void poll() {
      while (!stopPolling) Native.poll(handle, POLL_MS);
    }

    /**
     * Close (once, from close() or the reaper: then with timeout 0). The poll thread is stopped
     * before the write lock is taken: a listener on it may be waiting for the read lock in send.
     */
    @Override
    public void run() {
      closed = true;
      stopPolling = true;
      boolean interrupted = false;
      for (;;) {
        try {
          poller.join();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      lock.writeLock().lock();
      try {
        // evp_client_destroy serves the last reports on this thread.
        long h = handle;
        handle = 0;
        undelivered = Native.destroy(h, explicitClose ? closeTimeoutMs : 0);
      } finally {
        lock.writeLock().unlock();
      }
      if (interrupted) Thread.currentThread().interrupt();
    }
  }

  /** Builds a {@link Client} with listeners. */
  public static final class Builder {
    private final Conf conf;
    private DeliveryListener listener;
    private ErrorListener errorListener;
    private Duration closeTimeout = Duration.ofSeconds(5);

    private Builder(Conf conf) {
      this.conf = conf;
    }

    /**
     * @param l receives every report (after the event's own listener, if any).
     * @return this.
     */
    public Builder onDelivery(DeliveryListener l) {
      listener = l;
      return this;
    }

    /**
     * @param l hears of service-wide errors (see {@link ErrorListener}).
     * @return this.
     */
    public Builder onError(ErrorListener l) {
      errorListener = l;
      return this;
    }

    /**
     * @param t how long {@link Client#close()} keeps sending (default 5 s).
     * @return this.
     */
    public Builder closeTimeout(Duration t) {
      closeTimeout = t;
      return this;
    }

    /**
     * @return the client, its poll thread started.
     * @throws EvpipeException when the configuration is unusable (missing endpoint or
     *     credentials, unreadable schema file...).
     */
    public Client build() {
      return new Client(this);
    }
  }

  /**
   * @param conf the configuration (copied: the caller still owns and closes it).
   * @return a builder for a client with listeners.
   */
  public static Builder builder(Conf conf) {
    return new Builder(conf);
  }

  /**
   * A client without listeners (reports are still served, and dropped).
   *
   * @param conf the configuration (copied: the caller still owns and closes it).
   * @throws EvpipeException when the configuration is unusable.
   */
  public Client(Conf conf) {
    this(new Builder(conf));
  }

  private Client(Builder b) {
    Dispatcher d = new Dispatcher(b.listener, b.errorListener);
    long handle;
    synchronized (b.conf) {
      handle = Native.clientNew(b.conf.ptr(), d);
    }
    state = new State(handle, d, millis(b.closeTimeout));
    Thread t = new Thread(state::poll, "evpipe-poll-" + THREADS.incrementAndGet());
    t.setDaemon(true);
    state.poller = t;
    t.start();
    cleanable = Reaper.register(this, state);
  }

  /**
   * Validate and queue an event (a JSON object). Never waits for the network.
   *
   * @param json the event.
   * @throws EvpipeException refused: EVP_ERR_INVALID_EVENT / EVP_ERR_JSON (the message gives the
   *     JSON path), EVP_ERR_TOO_LARGE, EVP_ERR_QUEUE_FULL, EVP_ERR_IO, EVP_ERR_STATE.
   * @throws IllegalStateException after close.
   */
  public void send(String json) {
    send(json, null, null);
  }

  /**
   * As {@link #send(String)}, with a tag that comes back in the event's report.
   *
   * @param json the event.
   * @param tag any object, returned by {@link DeliveryReport#tag()}.
   */
  public void send(String json, Object tag) {
    send(json, tag, null);
  }

  /**
   * As {@link #send(String)}, with a listener for this event's report only.
   *
   * @param json the event.
   * @param onDelivery called once with the event's report.
   */
  public void send(String json, DeliveryListener onDelivery) {
    send(json, null, onDelivery);
  }

  /**
   * As {@link #send(String)}, with a tag and a listener for this event.
   *
   * @param json the event.
   * @param tag returned by {@link DeliveryReport#tag()} (may be null).
   * @param onDelivery called once with the event's report (may be null).
   */
  public void send(String json, Object tag, DeliveryListener onDelivery) {
    byte[] b = json.getBytes(StandardCharsets.UTF_8);
    send(b, 0, b.length, tag, onDelivery);
  }

  /**
   * As {@link #send(String)}, for an event already encoded as UTF-8.
   *
   * @param json the event's UTF-8 bytes (copied).
   */
  public void send(byte[] json) {
    send(json, 0, json.length, null, null);
  }

  /**
   * The general form.
   *
   * @param json UTF-8 bytes (copied).
   * @param off where the event starts in json.
   * @param len its length.
   * @param tag returned by {@link DeliveryReport#tag()} (may be null).
   * @param onDelivery called once with the event's report (may be null).
   */
  public void send(byte[] json, int off, int len, Object tag, DeliveryListener onDelivery) {
    if (off < 0 || len < 0 || off > json.length - len) throw new IndexOutOfBoundsException();
    long id = state.dispatcher.register(tag, onDelivery);
    boolean sent = false;
    try {
      withOpen(h -> {
        Native.send(this, h, json, off, len, id);
        return null;
      });
      sent = true;
    } finally {
      if (!sent) state.dispatcher.unregister(id);
    }
  }

  /**
   * Send everything now and wait until nothing is pending, serving reports on this thread.
   *
   * @param timeout how long to wait (zero: not at all, negative: no limit).
   * @return the number of events still pending (0: every report has been served); it returns
   *     early, with that number, when another thread starts {@link #close()}.
   * @throws IllegalStateException after close, or from a listener.
   */
  public long flush(Duration timeout) {
    return flush(timeout.isNegative() ? -1 : timeout.toMillis());
  }

  /**
   * As {@link #flush(Duration)}, in milliseconds.
   *
   * @param timeoutMs how long to wait (0: not at all, negative: no limit).
   * @return the number of events still pending.
   */
  public long flush(long timeoutMs) {
    // The native flush runs in slices of at most FLUSH_SLICE_MS, each under the read lock, so
    // that a close() on another thread (which sets `closed`, then waits for the write lock) ends
    // this flush within one slice, even one without a limit (as the Go binding's Flush does).
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, timeoutMs));
    long n = -1;
    for (;;) {
      long left = timeoutMs < 0 ? FLUSH_SLICE_MS
          : TimeUnit.NANOSECONDS.toMillis(Math.max(0, deadline - System.nanoTime()));
      int slice = (int) Math.min(FLUSH_SLICE_MS, left);
      state.lock.readLock().lock();
      try {
        if (state.closed) {
          if (n < 0) throw new IllegalStateException("the client is closed");
          return n; // close() started: what is left is close()'s to deliver or report
        }
        n = Native.flush(this, state.handle, slice);
      } finally {
        state.lock.readLock().unlock();
      }
      if (n < 0) throw new IllegalStateException("flush() from a listener");
      if (n == 0 || (timeoutMs >= 0 && deadline - System.nanoTime() <= 0)) return n;
    }
  }

  /** Stop sending until {@link #resume()} (send still queues); e.g. from Activity.onStop. */
  public void pause() {
    withOpen(h -> Native.setPaused(this, h, true));
  }

  /** Resume sending after {@link #pause()}; e.g. from Activity.onStart. */
  public void resume() {
    withOpen(h -> Native.setPaused(this, h, false));
  }

  /** @return the client's counters as JSON (evp_client_stats). */
  public String stats() {
    return new String(withOpen(h -> Native.stats(this, h)), StandardCharsets.UTF_8);
  }

  /** Close with the builder's close timeout (5 s by default). Idempotent. */
  @Override
  public void close() {
    closeAndCount(null);
  }

  /**
   * Close, sending for up to timeout first.
   *
   * @param timeout how long to keep sending (zero: not at all).
   * @return the events reported undelivered at close (with a spool: left in it); 0 when the
   *     client was already closed.
   * @throws IllegalStateException from a listener.
   */
  public long close(Duration timeout) {
    return closeAndCount(timeout);
  }

  private long closeAndCount(Duration timeout) {
    // A listener runs on the poll thread (which close() joins) or inside flush() (which holds the
    // read lock that close()'s write lock waits for): either way close() would wait for itself.
    if (Thread.currentThread() == state.poller || state.lock.getReadHoldCount() > 0) {
      throw new IllegalStateException("close() from a listener");
    }
    if (state.closed) return 0;
    if (timeout != null) state.closeTimeoutMs = millis(timeout);
    state.explicitClose = true;
    cleanable.clean();
    return state.undelivered;
  }

  /**
   * Runs f on the native handle under the read lock, so that close() (the write lock) cannot
   * free the handle meanwhile. f passes `this` to the native as its owner: otherwise this Client
   * may become unreachable once `state` is read, and the reaper close it before the read lock is
   * taken (the call would then throw "closed" on a client its caller is using).
   */
  private <T> T withOpen(LongFunction<T> f) {
    state.lock.readLock().lock();
    try {
      if (state.closed) throw new IllegalStateException("the client is closed");
      return f.apply(state.handle);
    } finally {
      state.lock.readLock().unlock();
    }
  }

  private static int millis(Duration d) {
    return (int) Math.max(0, Math.min(Integer.MAX_VALUE, d.toMillis()));
  }
}
