package dev.evpipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Closing while other threads (or the reaper) are inside the binding: each case a defect the review of issue 15 found. */
class CloseConcurrencyTest {
  /**
   * close() from a listener is documented to throw IllegalStateException. That holds on the poll
   * thread, but a listener also runs on a thread inside flush(), which holds the read lock: close()
   * there waits for the write lock that thread can never give up, and the thread hangs forever.
   */
  @Test
  void closeFromListenerServedByFlushDoesNotHang() throws Exception {
    CountDownLatch pollerBusy = new CountDownLatch(1);
    List<Throwable> fromClose = new CopyOnWriteArrayList<>();
    Client[] self = new Client[1];
    Thread[] flusher = new Thread[1];
    try (Conf c = ClientTest.conf(ClientTest.SECRET)) {
      Client client = Client.builder(c).onDelivery(r -> {
        if (Thread.currentThread().getName().startsWith("evpipe-poll-")) {
          // Keep the poll thread busy, so that flush() serves the next report itself.
          pollerBusy.countDown();
          try {
            Thread.sleep(1500);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        } else if (Thread.currentThread() == flusher[0]) {
          try {
            self[0].close();
          } catch (Throwable t) {
            fromClose.add(t);
          }
        }
      }).build();
      self[0] = client;
      client.send(ClientTest.event(UUID.randomUUID().toString(), "review first"));
      assertTrue(pollerBusy.await(10, TimeUnit.SECONDS), "the poll thread served the first report");
      client.send(ClientTest.event(UUID.randomUUID().toString(), "review second"));
      Thread t = new Thread(() -> client.flush(Duration.ofSeconds(10)), "review-flusher");
      t.setDaemon(true); // if it hangs, it must not keep the JVM alive
      flusher[0] = t;
      t.start();
      t.join(8000);
      assertFalse(t.isAlive(), "the thread in flush() hangs: its listener called close()");
      assertEquals(1, fromClose.size(), "close() from the listener threw: " + fromClose);
      assertTrue(fromClose.get(0) instanceof IllegalStateException, fromClose.toString());
      client.close();
    }
  }

  /**
   * A Schema that becomes unreachable while its own validate() runs (new Schema(s).validate(d): after
   * reading the native pointer, validate() no longer uses `this`) is freed by the reaper thread while
   * Native.schemaValidate still uses it: the JVM dies with SIGSEGV in native code. Nothing in the
   * caller's code is wrong; validate() must keep the Schema reachable (or lock out the reaper). Runs
   * in a child JVM, whose crash this test reports.
   */
  @Test
  void schemaIsNotFreedWhileItsOwnValidateRuns() throws Exception {
    String out = ChildJvm.run(SchemaGcMain.class, "5");
    assertTrue(out.contains(" 0 wrong"), out);
  }

  /** The child JVM of schemaIsNotFreedWhileItsOwnValidateRuns: validate through temporaries. */
  static final class SchemaGcMain {
    public static void main(String[] args) {
      StringBuilder doc = new StringBuilder("[");
      for (int i = 0; i < 20000; i++) doc.append(i == 0 ? "" : ",").append("\"abcdefghij\"");
      byte[] d = doc.append("]").toString().getBytes(StandardCharsets.UTF_8);
      String schema =
          "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}}";
      Thread gc = new Thread(() -> {
        for (;;) {
          System.gc();
          try {
            Thread.sleep(1);
          } catch (InterruptedException e) {
            return;
          }
        }
      });
      gc.setDaemon(true);
      gc.start();
      long end = System.nanoTime() + Long.parseLong(args[0]) * 1_000_000_000L;
      long n = 0;
      long wrong = 0;
      while (System.nanoTime() < end) {
        if (!new Schema(schema).validate(d, 0, d.length).isEmpty()) wrong++;
        n++;
      }
      System.out.println(n + " validations, " + wrong + " wrong");
    }
  }

  /**
   * close() is "idempotent, from any thread" and "delivers for up to the close timeout"; but while
   * another thread is in flush() without a limit (the server is down), close() waits for the write
   * lock until that flush ends, which is never: a shutdown hook closing the client hangs. (The Go
   * binding's Flush gives up when Close starts.)
   */
  @Test
  void closeDoesNotWaitForeverForAFlushWithoutLimit() throws Exception {
    try (Conf c = new Conf().set("endpoint", "http://127.0.0.1:9").set("client.id", "review")
            .set("client.secret", "review-secret-0123456789abcdef0123").set("audience", "events")) {
      Client client = new Client(c);
      client.send(ClientTest.event(UUID.randomUUID().toString(), "never delivered"));
      Thread flusher = new Thread(() -> {
        try {
          client.flush(Duration.ofMillis(-1)); // no limit
        } catch (IllegalStateException e) {
          // closed meanwhile: fine
        }
      }, "review-flush-forever");
      flusher.setDaemon(true);
      flusher.start();
      Thread.sleep(300); // the flusher is inside the native flush
      Thread closer = new Thread(() -> client.close(Duration.ZERO), "review-closer");
      closer.setDaemon(true);
      closer.start();
      closer.join(5000);
      assertFalse(closer.isAlive(), "close(0) still waits for the unlimited flush() after 5 s");
    }
  }
}
