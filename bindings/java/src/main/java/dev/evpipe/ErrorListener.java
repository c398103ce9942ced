package dev.evpipe;

/**
 * Hears at once of errors about the service rather than one event
 * (evp_error_cb_t): refused credentials (EVP_ERR_AUTH, not retrying: every
 * pending event is reported failed), a wrong URL (EVP_ERR_HTTP), or an
 * unreachable server (EVP_ERR_TRANSPORT, retrying: events stay queued).
 * Same threads and rules as {@link DeliveryListener}.
 */
@FunctionalInterface
public interface ErrorListener {
  /**
   * @param error the code, its name and the reason (names the URL, never a secret).
   * @param retrying true when the client keeps the events and retries.
   */
  void onError(EvpipeException error, boolean retrying);
}
