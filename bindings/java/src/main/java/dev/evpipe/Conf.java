package dev.evpipe;

import java.nio.charset.StandardCharsets;

/**
 * Client configuration: the properties of docs/CONFIGURATION.md, set as
 * text. {@link Client} copies it, so one Conf may build several clients and
 * must be closed by its owner (the secret is wiped then).
 *
 * <pre>{@code
 * try (Conf conf = new Conf().set("endpoint", url).set("client.id", id).set("client.secret", secret);
 *      Client client = new Client(conf)) { ... }
 * }</pre>
 *
 * <p>Thread-safety: methods are synchronized; closing is idempotent and any
 * other use after it throws IllegalStateException. An unclosed Conf is freed
 * by the "evpipe-reaper" thread once unreachable.
 */
public final class Conf implements AutoCloseable {
  private final Handle handle;
  private final Reaper.Cleanable cleanable;

  /** Holds the native pointer for the reaper, which must not see the Conf. */
  private static final class Handle implements Runnable {
    long ptr;

    @Override
    public synchronized void run() {
      Native.confDestroy(ptr);
      ptr = 0;
    }
  }

  /** A configuration with every property at its default. */
  public Conf() {
    handle = new Handle();
    handle.ptr = Native.confNew();
    cleanable = Reaper.register(this, handle);
  }

  /**
   * Set a property.
   *
   * @param name the property (docs/CONFIGURATION.md).
   * @param value its text form.
   * @return this, for chaining.
   * @throws EvpipeException EVP_ERR_CONF_UNKNOWN for an unknown name, EVP_ERR_CONF_INVALID for a
   *     bad value (the reason says why).
   * @throws IllegalStateException after {@link #close()}.
   */
  public synchronized Conf set(String name, String value) {
    Native.confSet(ptr(), utf8(name), utf8(value));
    return this;
  }

  /**
   * Read a property as text (secrets read back as "[redacted]").
   *
   * @param name the property.
   * @return its value.
   * @throws EvpipeException EVP_ERR_CONF_UNKNOWN for an unknown name.
   */
  public synchronized String get(String name) {
    return new String(Native.confGet(ptr(), utf8(name)), StandardCharsets.UTF_8);
  }

  /** Free the configuration, wiping the secret. Idempotent. */
  @Override
  public void close() {
    cleanable.clean();
  }

  /** The native pointer, for {@link Client}; callers hold this Conf's lock. */
  long ptr() {
    synchronized (handle) {
      if (handle.ptr == 0) throw new IllegalStateException("the Conf is closed");
      return handle.ptr;
    }
  }

  static byte[] utf8(String s) {
    if (s == null) throw new NullPointerException();
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
