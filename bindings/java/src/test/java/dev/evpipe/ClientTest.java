package dev.evpipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * End to end against evpipe local, started by tests/scripts/test_bindings_java.sh, which passes
 * -Devpipe.url, -Devpipe.client.id, -Devpipe.secret, -Devpipe.schema and -Devpipe.sent (a file
 * where delivered event ids are appended, "id TAB properties.note", for its lake check).
 */
class ClientTest {
  static final String URL = System.getProperty("evpipe.url");
  static final String ID = System.getProperty("evpipe.client.id");
  static final String SECRET = System.getProperty("evpipe.secret");
  static final String SCHEMA = System.getProperty("evpipe.schema");
  static final Path SENT = Paths.get(System.getProperty("evpipe.sent"));
  /** Snowman (BMP), grinning face and a flag (outside the BMP: surrogate pairs in Java). */
  static final String EMOJI = "snow \u2603, grin \uD83D\uDE00, flag \uD83C\uDDE9\uD83C\uDDEA";

  static Conf conf(String secret) {
    return new Conf().set("endpoint", URL).set("client.id", ID).set("client.secret", secret)
        .set("audience", "events").set("schema.file", SCHEMA).set("linger.ms", "1");
  }

  static String event(String id, String note) {
    return "{\"event_id\":\"" + id + "\",\"event_type\":\"java.test\",\"app_id\":\"java-binding\","
        + "\"properties\":{\"note\":\"" + note + "\"}}";
  }

  static synchronized void recordSent(List<String> lines) throws IOException {
    Files.write(SENT, lines, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
  }

  @Test
  void listenerGetsEachReportOnceWithItsTag() throws IOException {
    int n = 300;
    Map<Object, AtomicInteger> seen = new ConcurrentHashMap<>();
    Map<Object, String> idOf = new ConcurrentHashMap<>();
    List<DeliveryReport> bad = new CopyOnWriteArrayList<>();
    List<String> ids = new ArrayList<>();
    try (Conf c = conf(SECRET);
        Client client = Client.builder(c).onDelivery(r -> {
          if (!r.delivered() || r.tag() == null || !r.eventId().equals(idOf.get(r.tag()))) bad.add(r);
          if (r.tag() != null) seen.computeIfAbsent(r.tag(), k -> new AtomicInteger()).incrementAndGet();
        }).build()) {
      for (int i = 0; i < n; i++) {
        String id = UUID.randomUUID().toString();
        idOf.put(i, id);
        client.send(event(id, "tag " + i), Integer.valueOf(i));
        ids.add(id + "\ttag " + i);
      }
      assertEquals(0, client.flush(Duration.ofSeconds(20)));
      assertTrue(client.stats().contains("\"delivered\":" + n), client.stats());
    }
    assertEquals(List.of(), bad);
    assertEquals(n, seen.size());
    seen.forEach((tag, count) -> assertEquals(1, count.get(), "reports for tag " + tag));
    recordSent(ids);
  }

  @Test
  void perEventListenerAndNonBmpTextRoundTrip() throws IOException {
    List<DeliveryReport> mine = new CopyOnWriteArrayList<>();
    String id = UUID.randomUUID().toString();
    try (Conf c = conf(SECRET); Client client = new Client(c)) {
      client.send(event(id, EMOJI), "emoji", mine::add);
      assertEquals(0, client.flush(5000));
    }
    assertEquals(1, mine.size());
    assertTrue(mine.get(0).delivered(), mine.get(0).toString());
    assertEquals("emoji", mine.get(0).tag());
    assertEquals(id, mine.get(0).eventId());
    assertTrue(mine.get(0).attempts() >= 1);
    assertEquals(200, mine.get(0).httpStatus());
    recordSent(List.of(id + "\t" + EMOJI));
  }

  @Test
  void invalidEventIsRefusedWithItsJsonPath() {
    try (Conf c = conf(SECRET); Client client = new Client(c)) {
      EvpipeException e = assertThrows(EvpipeException.class,
          () -> client.send("{\"event_type\":\"Not Dotted\",\"app_id\":\"a\"}", "never"));
      assertEquals(26, e.code());
      assertEquals("EVP_ERR_INVALID_EVENT", e.name());
      assertTrue(e.getMessage().contains("event_type"), e.getMessage());
      EvpipeException j = assertThrows(EvpipeException.class, () -> client.send("{\"a\":"));
      assertEquals("EVP_ERR_JSON", j.name());
      assertEquals(0, client.flush(1000));
    }
  }

  @Test
  void unknownAndInvalidPropertiesThrow() {
    try (Conf c = new Conf()) {
      EvpipeException e = assertThrows(EvpipeException.class, () -> c.set("no.such.property", "1"));
      assertEquals(27, e.code());
      assertEquals("EVP_ERR_CONF_UNKNOWN", e.name());
      assertTrue(e.getMessage().contains("no.such.property"), e.getMessage());
      EvpipeException v = assertThrows(EvpipeException.class, () -> c.set("linger.ms", "-5"));
      assertEquals("EVP_ERR_CONF_INVALID", v.name());
      assertEquals("7", c.set("linger.ms", "7").get("linger.ms"));
      // Without endpoint or credentials the client cannot be built, and the
      // exception carries the library's code for it.
      EvpipeException n = assertThrows(EvpipeException.class, () -> new Client(c));
      assertEquals("EVP_ERR_CONF_INVALID", n.name());
      assertTrue(n.getMessage().contains("endpoint"), n.getMessage());
      c.set("endpoint", "http://127.0.0.1:9").set("client.id", "x")
          .set("client.secret", "0123456789abcdef0123456789abcdef")
          .set("schema.file", "/nonexistent/java-schema.json");
      EvpipeException io = assertThrows(EvpipeException.class, () -> new Client(c));
      assertEquals("EVP_ERR_IO", io.name());
      assertTrue(io.getMessage().contains("java-schema.json"), io.getMessage());
    }
  }

  @Test
  void wrongSecretFailsWithAuthErrorAndReports() {
    List<EvpipeException> errors = new CopyOnWriteArrayList<>();
    List<Boolean> retrying = new CopyOnWriteArrayList<>();
    List<DeliveryReport> reports = new CopyOnWriteArrayList<>();
    try (Conf c = conf("not-the-secret-0123456789abcdef0123");
        Client client = Client.builder(c).onDelivery(reports::add).onError((e, r) -> {
          errors.add(e);
          retrying.add(r);
        }).build()) {
      client.send(event(UUID.randomUUID().toString(), "wrong secret"), "w");
      client.flush(10000);
    }
    assertEquals(1, reports.size());
    assertEquals(DeliveryReport.Status.FAILED, reports.get(0).status());
    assertEquals("EVP_ERR_AUTH", reports.get(0).errorName());
    assertEquals("w", reports.get(0).tag());
    assertTrue(errors.size() >= 1);
    assertEquals("EVP_ERR_AUTH", errors.get(0).name());
    assertEquals(Boolean.FALSE, retrying.get(0));
  }

  @Test
  void useAfterCloseThrowsAndCloseIsIdempotent() {
    try (Conf c = conf(SECRET)) {
      Client client = new Client(c);
      client.close();
      client.close();
      assertEquals(0, client.close(Duration.ZERO));
      assertThrows(IllegalStateException.class, () -> client.send("{}"));
      assertThrows(IllegalStateException.class, () -> client.flush(0));
      assertThrows(IllegalStateException.class, client::stats);
      assertThrows(IllegalStateException.class, client::pause);
    }
    Conf closed = new Conf();
    closed.close();
    closed.close();
    assertThrows(IllegalStateException.class, () -> closed.set("linger.ms", "1"));
    assertThrows(IllegalStateException.class, () -> new Client(closed));
  }

  @Test
  void pausedClientHoldsEventsUntilResumed() throws Exception {
    List<DeliveryReport> reports = new CopyOnWriteArrayList<>();
    String id = UUID.randomUUID().toString();
    try (Conf c = conf(SECRET); Client client = Client.builder(c).onDelivery(reports::add).build()) {
      client.pause();
      client.send(event(id, "paused"));
      Thread.sleep(500);
      assertEquals(List.of(), reports);
      client.resume();
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (reports.isEmpty() && System.nanoTime() < deadline) Thread.sleep(10);
      assertEquals(1, reports.size());
      assertTrue(reports.get(0).delivered(), reports.get(0).toString());
      assertNull(reports.get(0).tag());
    }
    recordSent(List.of(id + "\tpaused"));
  }

  @Test
  void closeFromListenerIsRefusedAndEventsPendingAtCloseAreReported() {
    List<DeliveryReport> reports = new CopyOnWriteArrayList<>();
    List<Throwable> thrown = new CopyOnWriteArrayList<>();
    Client[] self = new Client[1];
    try (Conf c = conf(SECRET)) {
      Client client = Client.builder(c).onDelivery(r -> {
        reports.add(r);
        try {
          self[0].flush(0);
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
      }).build();
      self[0] = client;
      client.pause();
      client.send(event(UUID.randomUUID().toString(), "closed"), "x");
      assertEquals(1, client.close(Duration.ZERO));
    }
    assertEquals(1, reports.size());
    assertEquals(DeliveryReport.Status.FAILED, reports.get(0).status());
    assertEquals("x", reports.get(0).tag());
    assertEquals(1, thrown.size());
  }

  static long pollThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("evpipe-poll-")).count();
  }

  static void openAndForget(Conf c) {
    new Client(c).send(event(UUID.randomUUID().toString(), "forgotten"));
  }

  @Test
  void cleanerClosesAnUnreachableClient() throws Exception {
    try (Conf c = conf(SECRET)) {
      long before = pollThreads();
      openAndForget(c);
      assertEquals(before + 1, pollThreads());
      long deadline = System.nanoTime() + 20_000_000_000L;
      while (pollThreads() > before && System.nanoTime() < deadline) {
        System.gc();
        Thread.sleep(50);
      }
      assertEquals(before, pollThreads(), "the Cleaner stopped the poll thread of the lost client");
    }
  }

  @Test
  void concurrentSendersAndFlushersGetEachReportOnce() throws Exception {
    int threads = 4;
    int each = 200;
    Map<Object, AtomicInteger> seen = new ConcurrentHashMap<>();
    List<String> ids = new CopyOnWriteArrayList<>();
    List<Throwable> errors = new CopyOnWriteArrayList<>();
    try (Conf c = conf(SECRET);
        Client client = Client.builder(c).onDelivery(r -> {
          if (r.delivered()) seen.computeIfAbsent(r.tag(), k -> new AtomicInteger()).incrementAndGet();
        }).build()) {
      List<Thread> ts = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int base = t * each;
        ts.add(new Thread(() -> {
          try {
            for (int i = base; i < base + each; i++) {
              String id = UUID.randomUUID().toString();
              client.send(event(id, "concurrent " + i), "c" + i);
              ids.add(id + "\tconcurrent " + i);
              if (i % 50 == 0) client.flush(0);
            }
          } catch (Throwable e) {
            errors.add(e);
          }
        }));
      }
      ts.forEach(Thread::start);
      for (Thread t : ts) t.join();
      assertEquals(List.of(), errors);
      assertEquals(0, client.flush(Duration.ofSeconds(20)));
    }
    assertEquals(threads * each, seen.size());
    seen.forEach((tag, count) -> assertEquals(1, count.get(), "reports for " + tag));
    recordSent(ids);
  }
}
