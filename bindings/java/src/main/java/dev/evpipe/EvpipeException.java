package dev.evpipe;

import java.nio.charset.StandardCharsets;

/**
 * An error from libevpipe: its code ({@code evp_err_t}), the code's name
 * (for example {@code EVP_ERR_CONF_UNKNOWN}) and the library's reason, such as
 * the JSON path of an invalid event. Unchecked, as configuration and
 * refused-event errors are usually programming errors.
 */
public class EvpipeException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final int code;

  /**
   * @param code the library's error code.
   * @param message the reason.
   */
  public EvpipeException(int code, String message) {
    super(Native.errName(code) + ": " + message);
    this.code = code;
  }

  /** Built by the JNI library, which passes the reason as UTF-8 bytes. */
  EvpipeException(int code, byte[] reason) {
    this(code, reason.length == 0 ? Native.errText(code) : new String(reason, StandardCharsets.UTF_8));
  }

  /** @return the library's error code (an {@code evp_err_t} value, e.g. 27). */
  public int code() {
    return code;
  }

  /** @return the name of the code, e.g. {@code "EVP_ERR_CONF_UNKNOWN"} (from evp_err2name()). */
  public String name() {
    return Native.errName(code);
  }
}
