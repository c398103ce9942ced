package dev.evpipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Schema: compile errors, validation errors with their paths, non-BMP text. */
class SchemaTest {
  static String glue() throws Exception {
    return new String(Files.readAllBytes(Paths.get(System.getProperty("evpipe.schema"))),
        StandardCharsets.UTF_8);
  }

  @Test
  void validatesWithPathsAndKeywords() throws Exception {
    try (Schema s = new Schema(glue())) {
      String ok = "{\"event_id\":\"01a2437e-161c-70cb-810b-361fb96c8b2b\",\"event_type\":\"a.b\","
          + "\"event_time\":\"2026-01-01T00:00:00Z\",\"app_id\":\"x\",\"properties\":{\"n\":\"\uD83D\uDE00\"}}";
      assertEquals(List.of(), s.validate(ok));
      List<Schema.ValidationError> e = s.validate(ok.replace("\"a.b\"", "\"Not Dotted\""));
      assertEquals(1, e.size(), e.toString());
      assertEquals("/event_type", e.get(0).instancePath());
      assertEquals("pattern", e.get(0).keyword());
      assertTrue(e.get(0).schemaPath().contains("event_type"), e.get(0).schemaPath());
      List<Schema.ValidationError> j = s.validate("{\"a\":");
      assertEquals(1, j.size());
      assertTrue(!j.get(0).message().isEmpty());
    }
  }

  @Test
  void badSchemaThrowsAndUseAfterCloseIsRefused() {
    EvpipeException e = assertThrows(EvpipeException.class, () -> new Schema("{\"type\":12}"));
    assertEquals("EVP_ERR_SCHEMA_INVALID", e.name());
    Schema s = new Schema("{\"type\":\"object\"}");
    assertEquals(1, s.validate("[]").size());
    s.close();
    s.close();
    assertThrows(IllegalStateException.class, () -> s.validate("{}"));
  }

  /**
   * close() on one thread while validate() runs on another waits for it (Schema.Handle's lock),
   * instead of freeing the schema under the native validation; validate() afterwards throws
   * IllegalStateException. In a child JVM, whose crash (freed memory) this test reports.
   */
  @Test
  void closeWaitsForTheValidationsRunningOnOtherThreads() throws Exception {
    String out = ChildJvm.run(CloseDuringValidateMain.class, "3");
    assertTrue(out.contains(" 0 wrong") && !out.startsWith("0 closed"), out);
  }

  /** The child JVM of closeWaitsForTheValidationsRunningOnOtherThreads. */
  static final class CloseDuringValidateMain {
    public static void main(String[] args) throws Exception {
      StringBuilder doc = new StringBuilder("[");
      for (int i = 0; i < 20000; i++) doc.append(i == 0 ? "" : ",").append("\"abcdefghij\"");
      byte[] d = doc.append("]").toString().getBytes(StandardCharsets.UTF_8);
      String schema =
          "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}}";
      long end = System.nanoTime() + Long.parseLong(args[0]) * 1_000_000_000L;
      AtomicLong wrong = new AtomicLong();
      long closed = 0;
      while (System.nanoTime() < end) {
        Schema s = new Schema(schema);
        CountDownLatch started = new CountDownLatch(1);
        Thread v = new Thread(() -> {
          started.countDown();
          try {
            for (;;) {
              if (!s.validate(d, 0, d.length).isEmpty()) wrong.incrementAndGet();
            }
          } catch (IllegalStateException e) {
            // closed: the end of this round
          }
        });
        v.start();
        started.await();
        Thread.sleep(1); // v is inside the native validate, most of the time
        s.close();
        v.join();
        closed++;
      }
      System.out.println(closed + " closed during validations, " + wrong.get() + " wrong");
    }
  }
}
