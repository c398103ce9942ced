package dev.evpipe;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A compiled JSON Schema (draft-07, schema.h), to validate events before sending them or
 * anywhere else. The client validates by itself when {@code schema.file} is set; this class is for
 * checking without a client, e.g. to show the user every error at once.
 *
 * <p>Thread-safety: {@link #validate} may run on many threads at once; {@link #close()} must not
 * run while one does. Use after close throws IllegalStateException; an unclosed Schema is freed
 * by the "evpipe-reaper" thread once unreachable.
 */
public final class Schema implements AutoCloseable {
  /** One validation error: where in the event, which schema keyword, and why. */
  public static final class ValidationError {
    private final String instancePath;
    private final String schemaPath;
    private final String keyword;
    private final String message;

    ValidationError(String instancePath, String schemaPath, String keyword, String message) {
      this.instancePath = instancePath;
      this.schemaPath = schemaPath;
      this.keyword = keyword;
      this.message = message;
    }

    /** @return the JSON pointer of the failing value in the event, e.g. "/event_type". */
    public String instancePath() {
      return instancePath;
    }

    /** @return the JSON pointer of the failing keyword in the schema. */
    public String schemaPath() {
      return schemaPath;
    }

    /** @return the keyword, e.g. "pattern" or "required". */
    public String keyword() {
      return keyword;
    }

    /** @return the explanation. */
    public String message() {
      return message;
    }

    @Override
    public String toString() {
      return instancePath + ": " + message + " (" + keyword + ")";
    }
  }

  /** Holds the native pointer for the reaper, which must not see the Schema. */
  private static final class Handle implements Runnable {
    volatile long ptr;

    @Override
    public void run() {
      Native.schemaDestroy(ptr);
      ptr = 0;
    }
  }

  private final Handle handle = new Handle();
  private final Reaper.Cleanable cleanable;

  /**
   * Compile a schema; its {@code $ref}s must resolve within the document.
   *
   * @param json the schema text.
   * @throws EvpipeException EVP_ERR_JSON, EVP_ERR_SCHEMA_INVALID, EVP_ERR_SCHEMA_REF,
   *     EVP_ERR_SCHEMA_REGEX... with the JSON pointer of the faulty keyword.
   */
  public Schema(String json) {
    handle.ptr = Native.schemaCompile(json.getBytes(StandardCharsets.UTF_8));
    cleanable = Reaper.register(this, handle);
  }

  /**
   * Validate a document.
   *
   * @param json the document.
   * @return its errors; empty when it is valid. Text that is not JSON gives one error at "".
   */
  public List<ValidationError> validate(String json) {
    byte[] b = json.getBytes(StandardCharsets.UTF_8);
    return validate(b, 0, b.length);
  }

  /**
   * Validate a document given as UTF-8.
   *
   * @param json the bytes.
   * @param off where the document starts.
   * @param len its length.
   * @return its errors; empty when it is valid.
   */
  public List<ValidationError> validate(byte[] json, int off, int len) {
    if (off < 0 || len < 0 || off > json.length - len) throw new IndexOutOfBoundsException();
    long p = handle.ptr;
    if (p == 0) throw new IllegalStateException("the Schema is closed");
    byte[][] e = Native.schemaValidate(p, json, off, len);
    if (e.length == 0) return Collections.emptyList();
    List<ValidationError> out = new ArrayList<>(e.length / 4);
    for (int i = 0; i < e.length; i += 4) {
      out.add(new ValidationError(utf8(e[i]), utf8(e[i + 1]), utf8(e[i + 2]), utf8(e[i + 3])));
    }
    return Collections.unmodifiableList(out);
  }

  /** Free the schema. Idempotent. */
  @Override
  public void close() {
    cleanable.clean();
  }

  private static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
