package dev.evpipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
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
}
