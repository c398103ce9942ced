package dev.evpipe;

import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The safety net for a {@link Client} or {@link Conf} never closed: once the object is
 * unreachable, its cleanup action runs on the daemon thread "evpipe-reaper". What
 * java.lang.ref.Cleaner does, written out because Android has Cleaner only from API level 33.
 */
final class Reaper {
  private static final ReferenceQueue<Object> QUEUE = new ReferenceQueue<>();
  /** Keeps the references themselves reachable until they are cleaned. */
  private static final Set<Cleanable> LIVE = ConcurrentHashMap.newKeySet();

  static {
    Thread t = new Thread(Reaper::loop, "evpipe-reaper");
    t.setDaemon(true);
    t.start();
  }

  private Reaper() {}

  /** A registered action: runs at most once, from {@link #clean()} or the reaper thread. */
  static final class Cleanable extends PhantomReference<Object> {
    private final Runnable action;
    private final AtomicBoolean done = new AtomicBoolean();

    private Cleanable(Object referent, Runnable action) {
      super(referent, QUEUE);
      this.action = action;
    }

    /** Run the action now, unless it already ran (then return at once). */
    void clean() {
      if (!done.compareAndSet(false, true)) return;
      LIVE.remove(this);
      clear();
      action.run();
    }
  }

  /**
   * @param owner the object whose unreachability triggers the action.
   * @param action must not refer to owner (it would keep it reachable).
   * @return the handle whose clean() runs the action explicitly.
   */
  static Cleanable register(Object owner, Runnable action) {
    Cleanable c = new Cleanable(owner, action);
    LIVE.add(c);
    return c;
  }

  private static void loop() {
    for (;;) {
      try {
        ((Cleanable) QUEUE.remove()).clean();
      } catch (InterruptedException e) {
        // A daemon: nothing to stop for.
      } catch (Throwable t) {
        System.err.println("evpipe: cleanup of an unclosed object failed:");
        t.printStackTrace();
      }
    }
  }
}
