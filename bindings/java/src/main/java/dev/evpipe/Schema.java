package dev.evpipe;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A compiled JSON Schema (draft-07, schema.h), to validate events before sending them or
 * anywhere else. The client validates by itself when {@code schema.file} is set; this class is for
 * checking without a client, e.g. to show the user every error at once.
 *
 * <p>Thread-safety: {@link #validate} may run on many threads at once; {@link #close()} waits
 * until the validations running on other threads end. Use after close throws
 * IllegalStateException; an unclosed Schema is freed by the "evpipe-reaper" thread once
 * unreachable.
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

  /**
   * Holds the native pointer for the reaper, which must not see the Schema. validate() holds the
   * read lock while the native code uses the pointer; freeing it (close() or the reaper) takes the
   * write lock, so it waits for the validations in progress, and zeroes the pointer.
   */
  private static final class Handle implements Runnable {
    final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** Guarded by lock; 0 once freed. */
    long ptr;

    @Override
    public void run() {
      lock.writeLock().lock();
      try {
        Native.schemaDestroy(ptr);
        ptr = 0;
      } finally {
        lock.writeLock().unlock();
      }
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
    long p = Native.schemaCompile(json.getBytes(StandardCharsets.UTF_8));
    handle.lock.writeLock().lock(); // publishes ptr to the reaper thread
    try {
      handle.ptr = p;
    } finally {
      handle.lock.writeLock().unlock();
    }
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
    byte[][] e;
    Handle h = handle;
    h.lock.readLock().lock();
    try {
      if (h.ptr == 0) throw new IllegalStateException("the Schema is closed");
      // `this` goes to the native as its owner: a JNI argument stays reachable until the native
      // returns, so the reaper cannot even start freeing it in between (without it, `this` is
      // unreachable once handle is read, and a reaper that wins the race for the lock makes this
      // call throw "closed"). Reference.reachabilityFence would do, but needs Android API 28.
      e = Native.schemaValidate(this, h.ptr, json, off, len);
    } finally {
      h.lock.readLock().unlock();
    }
    if (e.length == 0) return Collections.emptyList();
    List<ValidationError> out = new ArrayList<>(e.length / 4);
    for (int i = 0; i < e.length; i += 4) {
      out.add(new ValidationError(utf8(e[i]), utf8(e[i + 1]), utf8(e[i + 2]), utf8(e[i + 3])));
    }
    return Collections.unmodifiableList(out);
  }

  /** Free the schema, once the validations running on other threads end. Idempotent. */
  @Override
  public void close() {
    cleanable.clean();
  }

  private static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
