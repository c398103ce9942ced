// Send three events with the Go binding, print each delivery outcome, exit 1
// when any event was not delivered (docs/go.md). From the repository root,
// against the build tree:
//
//	. examples/local-env.sh && (cd examples/go && CGO_CFLAGS="-I$PWD/../../include" \
//	  CGO_LDFLAGS="-L$PWD/../../build -Wl,-rpath,$PWD/../../build" GOFLAGS=-mod=mod GOPROXY=off \
//	  go run -tags evpipe_nopkgconfig .)
//
// It reads EVPIPE_ENDPOINT (default http://127.0.0.1:8080, where `evpipe
// local` listens), EVPIPE_CLIENT_ID and the secret from
// EVPIPE_CLIENT_SECRET_FILE or EVPIPE_CLIENT_SECRET; `. examples/local-env.sh`
// sets them from the client `evpipe local` created in
// evpipe-data/secrets/clients.json.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	evpipe "github.com/libevpipe/libevpipe/bindings/go"
)

func getenv(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// secret prefers a file: a secret in the environment is inherited by every
// child process.
func secret() string {
	if path := os.Getenv("EVPIPE_CLIENT_SECRET_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			log.Fatal(err)
		}
		return strings.SplitN(string(b), "\n", 2)[0]
	}
	return os.Getenv("EVPIPE_CLIENT_SECRET")
}

func main() {
	c, err := evpipe.NewClient(evpipe.Config{
		Endpoint:     getenv("EVPIPE_ENDPOINT", "http://127.0.0.1:8080"),
		ClientID:     os.Getenv("EVPIPE_CLIENT_ID"),
		ClientSecret: secret(),
		Audience:     "events",
	})
	if err != nil {
		log.Fatal(err) // e.g. EVP_ERR_CONF_INVALID without credentials
	}
	// Ask for the reports before the first Send (until Reports() is called
	// they are discarded), and read them as they come: a full channel holds
	// back Send.
	reports := c.Reports()
	delivered := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range reports {
			if r.Status == evpipe.Delivered {
				delivered++
				fmt.Println("delivered", r.EventID, "in", r.Latency)
			} else { // rejected by the server, or failed to get there: Err says why
				fmt.Println("NOT delivered", r.EventID, r.Err)
			}
		}
	}()
	// event_type and app_id are what the server's schema requires of the
	// app (docs/event-schema.md); event_id and event_time are filled in.
	events := []string{
		`{"event_type":"app.opened","app_id":"example-go","platform":"server"}`,
		`{"event_type":"screen.viewed","app_id":"example-go","properties":{"screen":"home"}}`,
		`{"event_type":"checkout.completed","app_id":"example-go","properties":{"amount":12.5,"currency":"EUR"}}`,
	}
	for _, e := range events {
		if err := c.SendString(e); err != nil { // refused at the door: no report comes
			log.Print(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := c.Flush(ctx); err != nil {
		log.Printf("%d events still pending: %v", n, err)
	}
	if err := c.Close(); err != nil { // reports what is left, then closes Reports()
		log.Print(err)
	}
	<-done
	fmt.Printf("%d of %d delivered\n", delivered, len(events))
	if delivered != len(events) {
		os.Exit(1)
	}
}
