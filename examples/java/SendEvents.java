// Send three events with the Java binding, print each delivery outcome, exit
// 1 when any event was not delivered (docs/java.md). From the repository
// root, against the build tree (Java 11+ runs a single source file as is):
//
//   . examples/local-env.sh && java -cp build/bindings/java/evpipe.jar \
//     -Djava.library.path=build/bindings/java examples/java/SendEvents.java
//
// It reads EVPIPE_ENDPOINT (default http://127.0.0.1:8080, where `evpipe
// local` listens), EVPIPE_CLIENT_ID and the secret from
// EVPIPE_CLIENT_SECRET_FILE or EVPIPE_CLIENT_SECRET; `. examples/local-env.sh`
// sets them from the client `evpipe local` created in
// evpipe-data/secrets/clients.json.
import dev.evpipe.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

public class SendEvents {
  static String env(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? fallback : v;
  }

  // A file keeps the secret out of the environment every child process inherits.
  static String secret() throws Exception {
    String file = env("EVPIPE_CLIENT_SECRET_FILE", null);
    if (file == null) return env("EVPIPE_CLIENT_SECRET", "");
    return Files.readAllLines(Path.of(file), StandardCharsets.UTF_8).get(0).strip();
  }

  public static void main(String[] args) throws Exception {
    // event_type and app_id are what the server's schema requires of the app
    // (docs/event-schema.md); event_id and event_time are filled in.
    String[] events = {
      "{\"event_type\":\"app.opened\",\"app_id\":\"example-java\",\"platform\":\"server\"}",
      "{\"event_type\":\"screen.viewed\",\"app_id\":\"example-java\",\"properties\":{\"screen\":\"home\"}}",
      "{\"event_type\":\"checkout.completed\",\"app_id\":\"example-java\","
          + "\"properties\":{\"amount\":12.5,\"currency\":\"EUR\"}}",
    };
    // Listeners run on the client's poll thread or inside flush()/close():
    // count with atomics.
    AtomicInteger delivered = new AtomicInteger();
    try (Conf conf = new Conf()
            .set("endpoint", env("EVPIPE_ENDPOINT", "http://127.0.0.1:8080"))
            .set("client.id", env("EVPIPE_CLIENT_ID", ""))
            .set("client.secret", secret())
            .set("audience", "events");
        Client client = Client.builder(conf)
            .onDelivery(r -> {
              if (r.delivered()) {
                delivered.incrementAndGet();
                System.out.println("delivered " + r.eventId() + " in " + r.latencyMicros() + " us");
              } else { // REJECTED by the server, or FAILED to get there
                System.out.println("NOT delivered " + r.eventId() + ": " + r.errorName() + ": " + r.reason());
              }
            })
            .onError((e, retrying) -> System.err.println("client: " + e.name() + ": " + e.getMessage()))
            .build()) {
      for (String e : events) client.send(e); // throws EvpipeException when refused at the door
      client.flush(Duration.ofSeconds(10)); // sends, waits, runs the listeners
    } // close(): anything still pending is reported failed
    System.out.println(delivered.get() + " of " + events.length + " delivered");
    System.exit(delivered.get() == events.length ? 0 : 1);
  }
}
