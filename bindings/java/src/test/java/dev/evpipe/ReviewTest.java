package dev.evpipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Review of issue 15 (the JVM binding): defects found by the reviewer, one test each. */
class ReviewTest {
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
}
