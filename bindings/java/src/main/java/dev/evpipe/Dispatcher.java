package dev.evpipe;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Receives the native callbacks of one client (from evpipe_jni.c, on a Java
 * thread inside poll, flush or close) and hands them to the listeners. Each
 * event with a tag or its own listener gets an integer id, passed to
 * evp_send_opaque() and back in its report: the native side never holds a
 * reference to a per-event Java object.
 */
final class Dispatcher {
  private static final DeliveryReport.Status[] STATUS = DeliveryReport.Status.values();

  /** What an event's report must reach. */
  private static final class Pending {
    final Object tag;
    final DeliveryListener listener;

    Pending(Object tag, DeliveryListener listener) {
      this.tag = tag;
      this.listener = listener;
    }
  }

  private final DeliveryListener listener;
  private final ErrorListener errorListener;
  private final ConcurrentHashMap<Long, Pending> pending = new ConcurrentHashMap<>();
  private final AtomicLong nextId = new AtomicLong();

  Dispatcher(DeliveryListener listener, ErrorListener errorListener) {
    this.listener = listener;
    this.errorListener = errorListener;
  }

  /**
   * An id for an event's tag and listener, or 0 when it has neither. Ids stay
   * in 1..2^31-1 so that they survive the round trip through a 32-bit
   * pointer (32-bit Android ABIs); a wrapped id still waiting is skipped.
   */
  long register(Object tag, DeliveryListener eventListener) {
    if (tag == null && eventListener == null) return 0;
    Pending p = new Pending(tag, eventListener);
    for (;;) {
      long id = nextId.incrementAndGet() & 0x7fffffffL;
      if (id != 0 && pending.putIfAbsent(id, p) == null) return id;
    }
  }

  /** Forget an id whose event send refused (it gets no report). */
  void unregister(long id) {
    if (id != 0) pending.remove(id);
  }

  /** Events sent with a tag or listener whose report has not come yet. */
  int waiting() {
    return pending.size();
  }

  // Called from evpipe_jni.c: the signature is looked up in JNI_OnLoad.
  void onDelivery(int status, int err, byte[] reason, byte[] eventId, long id, long latencyUs,
      int attempts, int httpStatus, boolean fromSpool) {
    Pending p = id != 0 ? pending.remove(id) : null;
    // A status this binding does not know (a newer libevpipe) counts as a failure.
    DeliveryReport.Status st =
        status >= 0 && status < STATUS.length ? STATUS[status] : DeliveryReport.Status.FAILED;
    DeliveryReport r = new DeliveryReport(st, err,
        reason == null ? null : new String(reason, StandardCharsets.UTF_8),
        eventId == null ? "" : new String(eventId, StandardCharsets.UTF_8), latencyUs, attempts,
        httpStatus, fromSpool, p == null ? null : p.tag);
    if (p != null && p.listener != null) call(p.listener, r);
    if (listener != null) call(listener, r);
  }

  // Called from evpipe_jni.c.
  void onError(int err, boolean retrying, byte[] reason) {
    if (errorListener == null) return;
    try {
      errorListener.onError(new EvpipeException(err, reason), retrying);
    } catch (Throwable t) {
      listenerFailed(t);
    }
  }

  private static void call(DeliveryListener l, DeliveryReport r) {
    try {
      l.onDelivery(r);
    } catch (Throwable t) {
      listenerFailed(t);
    }
  }

  /** A listener's exception must not stop the other reports of the same poll. */
  private static void listenerFailed(Throwable t) {
    System.err.println("evpipe: a listener threw (ignored):");
    t.printStackTrace();
  }
}
