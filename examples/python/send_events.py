"""Send three events with the Python binding, print each delivery outcome,
exit 1 when any event was not delivered (docs/python.md).

    . examples/local-env.sh && ~/evpipe-venv/bin/python examples/python/send_events.py

Reads EVPIPE_ENDPOINT (default http://127.0.0.1:8080, where `evpipe local`
listens), EVPIPE_CLIENT_ID and the secret from EVPIPE_CLIENT_SECRET_FILE or
EVPIPE_CLIENT_SECRET; `. examples/local-env.sh` sets them from the client
`evpipe local` created in evpipe-data/secrets/clients.json.
"""
import os
import sys

import evpipe


def secret() -> str:
    path = os.environ.get("EVPIPE_CLIENT_SECRET_FILE")
    if path:  # a file keeps the secret out of the environment of every child process
        with open(path) as f:
            return f.readline().strip()
    return os.environ["EVPIPE_CLIENT_SECRET"]


def main() -> int:
    outcomes = {"delivered": 0, "not delivered": 0}

    # Runs on this thread, inside flush() and close(): the binding never lets a
    # library thread call into Python.
    def on_delivery(report: evpipe.DeliveryReport) -> None:
        if report.status == evpipe.DeliveryStatus.OK:
            outcomes["delivered"] += 1
            print(f"delivered {report.event_id} in {report.latency_us} us")
        else:  # REJECTED by the server (reason says why) or FAILED to get there
            outcomes["not delivered"] += 1
            print(f"NOT delivered {report.event_id}: {report.name}: {report.reason}")

    events = [
        # event_type and app_id are what the server's schema requires of the
        # app (docs/event-schema.md); event_id and event_time are filled in.
        {"event_type": "app.opened", "app_id": "example-python", "platform": "server"},
        {"event_type": "screen.viewed", "app_id": "example-python",
         "properties": {"screen": "home"}},
        {"event_type": "checkout.completed", "app_id": "example-python",
         "properties": {"amount": 12.5, "currency": "EUR"}},
    ]
    with evpipe.Client(endpoint=os.environ.get("EVPIPE_ENDPOINT", "http://127.0.0.1:8080"),
                       client_id=os.environ["EVPIPE_CLIENT_ID"],
                       client_secret=secret(),
                       audience="events",
                       on_delivery=on_delivery) as client:
        for event in events:
            client.send(event)  # raises InvalidEventError etc. when refused at the door
        client.flush(timeout=10)  # sends, waits, serves the reports
    # Leaving the block closed the client: anything still pending was reported failed.
    print(f"{outcomes['delivered']} delivered, {outcomes['not delivered']} not delivered")
    return 0 if outcomes["delivered"] == len(events) else 1


if __name__ == "__main__":
    sys.exit(main())
