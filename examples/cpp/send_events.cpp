// Send a few events to an evpipe endpoint with the C++ wrapper and print each
// delivery report.
//   send_events ENDPOINT CLIENT_ID SECRET [COUNT]
// e.g. against `evpipe local` (its clients file gives the id and secret):
//   ./send_events http://127.0.0.1:8080 c-57UjvHRvL4lj 78XZ05wR2uaxUm... 5
// Exit status 0 when every event was delivered.
#include <evpipe/evpipe.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s ENDPOINT CLIENT_ID SECRET [COUNT]\n", argv[0]);
    return 2;
  }
  int count = argc > 4 ? std::atoi(argv[4]) : 5;
  int delivered = 0, failed = 0;
  try {
    evpipe::Conf conf;
    conf.set("endpoint", argv[1])
        .set("client.id", argv[2])
        .set("client.secret", argv[3])
        .set("audience", "events")
        .set("callbacks.mode", "poll") // reports run here, in flush()/poll()
        .on_delivery([&](const evpipe::DeliveryReport &r) {
          if (r.ok()) {
            delivered++;
            std::printf("delivered %.*s in %lld us\n", int(r.event_id().size()),
                        r.event_id().data(), static_cast<long long>(r.latency().count()));
          } else {
            failed++;
            std::printf("failed %.*s: %s (%.*s)\n", int(r.event_id().size()), r.event_id().data(),
                        evpipe::error_name(r.error()), int(r.reason().size()), r.reason().data());
          }
        })
        .on_error([](std::error_code err, bool retrying, std::string_view reason) {
          std::fprintf(stderr, "client error %s%s: %.*s\n", evpipe::error_name(err),
                       retrying ? " (retrying)" : "", int(reason.size()), reason.data());
        });
    evpipe::Client client(std::move(conf));
    for (int i = 0; i < count; i++) {
      // event_id and event_time are filled in by the library.
      client.send(R"({"event_type":"example.cpp","app_id":"cpp-example","properties":{"i":)" +
                  std::to_string(i) + "}}");
    }
    long pending = client.flush(30000); // serves the reports
    client.close(5000);
    std::printf("%d delivered, %d failed, %ld pending\n", delivered, failed, pending);
  } catch (const evpipe::Error &e) { // refused at the door, bad configuration...
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return failed == 0 && delivered == count ? 0 : 1;
}
