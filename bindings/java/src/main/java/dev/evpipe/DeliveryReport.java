package dev.evpipe;

/**
 * The outcome of one event: an immutable copy of the C delivery report
 * (evp_delivery_*), plus the tag given to {@code send}.
 */
public final class DeliveryReport {
  /** Final outcome (evp_delivery_status_t). */
  public enum Status {
    /** The server accepted the event. */
    DELIVERED,
    /** The server rejected the event for good (see {@link #reason()}). */
    REJECTED,
    /** Not delivered: timeout, refused credentials, HTTP error, client closed. */
    FAILED
  }

  private final Status status;
  private final int errorCode;
  private final String reason;
  private final String eventId;
  private final long latencyMicros;
  private final int attempts;
  private final int httpStatus;
  private final boolean fromSpool;
  private final Object tag;

  DeliveryReport(Status status, int errorCode, String reason, String eventId, long latencyMicros,
      int attempts, int httpStatus, boolean fromSpool, Object tag) {
    this.status = status;
    this.errorCode = errorCode;
    this.reason = reason;
    this.eventId = eventId;
    this.latencyMicros = latencyMicros;
    this.attempts = attempts;
    this.httpStatus = httpStatus;
    this.fromSpool = fromSpool;
    this.tag = tag;
  }

  /** @return delivered, rejected or failed. */
  public Status status() {
    return status;
  }

  /** @return true when the server accepted the event. */
  public boolean delivered() {
    return status == Status.DELIVERED;
  }

  /** @return the error code (0 when delivered; e.g. 34 EVP_ERR_AUTH). */
  public int errorCode() {
    return errorCode;
  }

  /** @return the name of {@link #errorCode()}, e.g. "EVP_ERR_AUTH" ("EVP_OK" when delivered). */
  public String errorName() {
    return Native.errName(errorCode);
  }

  /** @return why it was not delivered, or null when delivered. */
  public String reason() {
    return reason;
  }

  /** @return the event's event_id as written in the event ("" when it has none). */
  public String eventId() {
    return eventId;
  }

  /** @return microseconds from acceptance by send to the outcome. */
  public long latencyMicros() {
    return latencyMicros;
  }

  /** @return how many requests carried the event (0: it never left the client). */
  public int attempts() {
    return attempts;
  }

  /** @return HTTP status of the last response that carried it, 0 when none came. */
  public int httpStatus() {
    return httpStatus;
  }

  /**
   * @return true for an event an earlier run left in the spool (spool.dir); such a report has no
   *     tag.
   */
  public boolean fromSpool() {
    return fromSpool;
  }

  /** @return the tag given to send, or null. */
  public Object tag() {
    return tag;
  }

  @Override
  public String toString() {
    return "DeliveryReport{" + status + ", " + errorName() + (reason != null ? ", " + reason : "")
        + ", event_id=" + eventId + ", attempts=" + attempts + ", http=" + httpStatus
        + (fromSpool ? ", from spool" : "") + ", tag=" + tag + "}";
  }
}
