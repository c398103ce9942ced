package dev.evpipe;

/**
 * Receives delivery reports: exactly one per event that {@code send} accepted.
 * Called on the client's poll thread, or on the thread inside {@link
 * Client#flush} or {@link Client#close}; never on a library thread. It may
 * call {@code send}; it must not call {@code flush} or {@code close} (they throw
 * IllegalStateException there). What it throws is printed and ignored.
 */
@FunctionalInterface
public interface DeliveryListener {
  /** @param report the outcome of one event (immutable, may be kept). */
  void onDelivery(DeliveryReport report);
}
