package evpipe

// These tests need `evpipe local`: tests/scripts/test_bindings_go.sh starts
// one and passes it in EVPIPE_TEST_ENDPOINT, EVPIPE_TEST_CLIENT_ID,
// EVPIPE_TEST_CLIENT_SECRET, EVPIPE_TEST_SCHEMA, and EVPIPE_TEST_SENT_IDS (a
// file receiving the event_id of every delivered event, for the script's
// check of the lake). Without them they fail, unless -short.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

type testEnv struct {
	endpoint, clientID, secret, schema, sentIDs string
}

func env(t *testing.T) testEnv {
	t.Helper()
	e := testEnv{os.Getenv("EVPIPE_TEST_ENDPOINT"), os.Getenv("EVPIPE_TEST_CLIENT_ID"),
		os.Getenv("EVPIPE_TEST_CLIENT_SECRET"), os.Getenv("EVPIPE_TEST_SCHEMA"),
		os.Getenv("EVPIPE_TEST_SENT_IDS")}
	if e.endpoint == "" || e.clientID == "" || e.secret == "" || e.schema == "" {
		if testing.Short() {
			t.Skip("-short: no evpipe local")
		}
		t.Fatal("EVPIPE_TEST_ENDPOINT/CLIENT_ID/CLIENT_SECRET/SCHEMA not set: " +
			"run tests/scripts/test_bindings_go.sh (it starts evpipe local)")
	}
	return e
}

func (e testEnv) config() Config {
	return Config{Endpoint: e.endpoint, ClientID: e.clientID, ClientSecret: e.secret,
		Audience: "events", SchemaFile: e.schema, CloseTimeout: 10 * time.Second}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func uuid4() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

type event struct {
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	EventTime string `json:"event_time"`
	AppID     string `json:"app_id"`
}

func newEvent() event {
	return event{uuid4(), "go.test", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "go-binding"}
}

func (ev event) bytes() []byte {
	b, _ := json.Marshal(ev)
	return b
}

var sentMu sync.Mutex

// recordDelivered appends event ids to EVPIPE_TEST_SENT_IDS for the lake check.
func (e testEnv) recordDelivered(t *testing.T, ids []string) {
	if e.sentIDs == "" {
		return
	}
	sentMu.Lock()
	defer sentMu.Unlock()
	f, err := os.OpenFile(e.sentIDs, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, id := range ids {
		fmt.Fprintln(f, id)
	}
}

// read takes n reports from ch, failing after timeout.
func read(t *testing.T, ch <-chan DeliveryReport, n int, timeout time.Duration) []DeliveryReport {
	t.Helper()
	var got []DeliveryReport
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("Reports closed after %d of %d", len(got), n)
			}
			got = append(got, r)
		case <-deadline:
			t.Fatalf("%d of %d reports after %v", len(got), n, timeout)
		}
	}
	return got
}

// Send (bytes with a tag, string, JSON value), Flush, and every report on
// the channel exactly once, with its tag and event_id, delivered.
func TestSendFlushReports(t *testing.T) {
	e := env(t)
	c := newClient(t, e.config())
	reports := c.Reports()
	const tagged = 200
	byTag := map[int]string{}
	want := map[string]bool{} // event_id -> seen
	for i := 0; i < tagged; i++ {
		ev := newEvent()
		if err := c.SendWithTag(ev.bytes(), i); err != nil {
			t.Fatalf("SendWithTag %d: %v", i, err)
		}
		byTag[i] = ev.EventID
		want[ev.EventID] = false
	}
	ev := newEvent()
	if err := c.SendString(string(ev.bytes())); err != nil {
		t.Fatalf("SendString: %v", err)
	}
	want[ev.EventID] = false
	ev = newEvent()
	if err := c.SendJSON(ev); err != nil {
		t.Fatalf("SendJSON: %v", err)
	}
	want[ev.EventID] = false
	ev = newEvent()
	if err := c.Send(ev.bytes()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	want[ev.EventID] = false

	// Read concurrently: Flush returns once every report is handed over.
	var got []DeliveryReport
	done := make(chan struct{})
	go func() { defer close(done); got = read(t, reports, len(want), 30*time.Second) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n, err := c.Flush(ctx); n != 0 || err != nil {
		t.Fatalf("Flush = %d, %v", n, err)
	}
	<-done
	var ids []string
	tags := map[int]bool{}
	for _, r := range got {
		if r.Status != Delivered || r.Err != nil {
			t.Errorf("report %s: %v %v", r.EventID, r.Status, r.Err)
		}
		seen, ok := want[r.EventID]
		if !ok || seen {
			t.Errorf("report for %q: expected %v, already seen %v", r.EventID, ok, seen)
		}
		want[r.EventID] = true
		ids = append(ids, r.EventID)
		if r.Tag != nil {
			i := r.Tag.(int)
			if tags[i] || byTag[i] != r.EventID {
				t.Errorf("tag %d: twice %v, event %s want %s", i, tags[i], r.EventID, byTag[i])
			}
			tags[i] = true
		}
		if r.Attempts < 1 || r.HTTPStatus != 200 || r.FromSpool {
			t.Errorf("report %s: attempts %d http %d spool %v", r.EventID, r.Attempts, r.HTTPStatus, r.FromSpool)
		}
	}
	if len(tags) != tagged {
		t.Errorf("%d tags came back, want %d", len(tags), tagged)
	}
	e.recordDelivered(t, ids)
	var stats struct{ Enqueued, Delivered int }
	raw, err := c.Stats()
	if err != nil || json.Unmarshal(raw, &stats) != nil || stats.Delivered != len(want) {
		t.Errorf("Stats = %s, %v (delivered want %d)", raw, err, len(want))
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r, ok := <-reports; ok {
		t.Errorf("a report after Flush and Close: %+v", r)
	}
}

func TestInvalidEventRefusedWithPath(t *testing.T) {
	c := newClient(t, env(t).config())
	defer c.Close()
	ev := newEvent()
	ev.EventType = "Not A Type"
	err := c.Send(ev.bytes())
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrInvalidEvent || !strings.Contains(e.Reason, "/event_type") {
		t.Errorf("invalid event: %v, want ErrInvalidEvent naming /event_type", err)
	}
	if err := c.SendString(`{"event_id": `); !errors.Is(err, ErrJSON) {
		t.Errorf("truncated JSON: %v, want ErrJSON", err)
	}
	if err := c.SendJSON(map[string]int{"app_id": 1}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("SendJSON of a bad event: %v", err)
	}
	if err := c.SendJSON(func() {}); err == nil {
		t.Errorf("SendJSON of a func: no error")
	}
}

func TestBadConfiguration(t *testing.T) {
	cfg := env(t).config()
	cfg.Properties = map[string]string{"no.such.property": "1"}
	_, err := NewClient(cfg)
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrConfUnknown || !strings.Contains(e.Reason, "no.such.property") {
		t.Errorf("unknown property: %v, want ErrConfUnknown naming it", err)
	}
	cfg.Properties = map[string]string{"linger.ms": "forever"}
	if _, err := NewClient(cfg); !errors.Is(err, ErrConfInvalid) {
		t.Errorf("bad value: %v, want ErrConfInvalid", err)
	}
	cfg.Properties = map[string]string{"callbacks.mode": "thread"}
	if _, err := NewClient(cfg); !errors.Is(err, ErrConfInvalid) {
		t.Errorf("callbacks.mode=thread: %v, want ErrConfInvalid", err)
	}
	if _, err := NewClient(Config{ClientID: "x", ClientSecret: "y"}); !errors.Is(err, ErrConfInvalid) {
		t.Errorf("no endpoint: %v, want ErrConfInvalid", err)
	}
	// The library's own code for what failed, not a guess.
	cfg.Properties = map[string]string{"schema.file": "/nonexistent/go-schema.json"}
	_, err = NewClient(cfg)
	if !errors.As(err, &e) || e.Code != ErrIO || !strings.Contains(e.Reason, "go-schema.json") {
		t.Errorf("unreadable schema file: %v, want ErrIO naming it", err)
	}
}

// A wrong secret: the event's report fails with ErrAuth, and Errors() says
// so at once (not retrying).
func TestWrongSecretIsAnAuthFailure(t *testing.T) {
	cfg := env(t).config()
	cfg.ClientSecret = "not-the-secret-0123456789abcdef"
	c := newClient(t, cfg)
	defer c.Close()
	reports := c.Reports()
	if err := c.SendWithTag(newEvent().bytes(), "x"); err != nil {
		t.Fatal(err)
	}
	r := read(t, reports, 1, 30*time.Second)[0]
	if r.Status != Failed || !errors.Is(r.Err, ErrAuth) || r.Tag != "x" {
		t.Errorf("report: %v %v tag %v, want failed with ErrAuth", r.Status, r.Err, r.Tag)
	}
	select {
	case err := <-c.Errors():
		var ce *ConnectionError
		if !errors.As(err, &ce) || ce.Retrying || !errors.Is(err, ErrAuth) {
			t.Errorf("Errors(): %v, want a permanent ErrAuth", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("nothing on Errors()")
	}
}

func TestUseAfterClose(t *testing.T) {
	c := newClient(t, env(t).config())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Send(newEvent().bytes()); !errors.Is(err, ErrState) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := c.SendString("{}"); !errors.Is(err, ErrState) {
		t.Errorf("SendString after Close: %v", err)
	}
	if _, err := c.Flush(context.Background()); !errors.Is(err, ErrState) {
		t.Errorf("Flush after Close: %v", err)
	}
	if _, err := c.Stats(); !errors.Is(err, ErrState) {
		t.Errorf("Stats after Close: %v", err)
	}
	if err := c.Pause(); !errors.Is(err, ErrState) {
		t.Errorf("Pause after Close: %v", err)
	}
	if !closedSoon(c.Reports()) {
		t.Errorf("Reports not closed")
	}
	if !closedSoon(c.Errors()) {
		t.Errorf("Errors not closed")
	}
}

// closedSoon: ch is closed (and empty) within a second.
func closedSoon[T any](ch <-chan T) bool {
	select {
	case _, ok := <-ch:
		return !ok
	case <-time.After(time.Second):
		return false
	}
}

// Nobody reads Reports(): Flush gives up at its context, Close returns
// within its timeout (no deadlock) and counts the reports it dropped.
func TestCloseWithoutReadingReports(t *testing.T) {
	e := env(t)
	cfg := e.config()
	cfg.ReportBuffer = 1
	cfg.CloseTimeout = 500 * time.Millisecond
	c := newClient(t, cfg)
	reports := c.Reports() // asked for, never read
	const n = 50
	var ids []string
	for i := 0; i < n; i++ {
		ev := newEvent()
		if err := c.Send(ev.bytes()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.EventID)
		if i == n/2 {
			// The poll goroutine takes the first half's reports and blocks
			// on the full channel; the second half's are left for Flush to
			// serve, so Flush blocks too and must give up at its context.
			time.Sleep(500 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	flushed := make(chan error, 1)
	go func() { _, err := c.Flush(ctx); flushed <- err }()
	select {
	case err := <-flushed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush with nobody reading: %v, want the context's deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Flush with a 1 s context still blocked after 10 s (nobody reads Reports)")
	}
	closed := make(chan error)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close deadlocked with an unread Reports channel")
	}
	if got := len(reports) + int(c.DroppedReports()); got != n {
		t.Errorf("%d buffered + %d dropped reports, want %d", len(reports), c.DroppedReports(), n)
	}
	e.recordDelivered(t, ids) // delivered (Flush sent them); their reports were dropped
}

// Unread reports are back-pressure: they keep counting against
// queue.max.events, so Send gets ErrQueueFull instead of growing memory.
func TestUnreadReportsGiveQueueFull(t *testing.T) {
	e := env(t)
	cfg := e.config()
	cfg.ReportBuffer = 1
	cfg.CloseTimeout = 200 * time.Millisecond
	cfg.Properties = map[string]string{"queue.max.events": "20", "linger.ms": "0"}
	c := newClient(t, cfg)
	c.Reports()
	var ids []string
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		ev := newEvent()
		if err = c.Send(ev.bytes()); err == nil {
			ids = append(ids, ev.EventID)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Errorf("Send with reports unread: %v, want ErrQueueFull", err)
	}
	c.Close()
	e.recordDelivered(t, ids)
}

// Without Reports() the reports are discarded: no back-pressure.
func TestReportsNotAskedForAreDiscarded(t *testing.T) {
	e := env(t)
	cfg := e.config()
	cfg.ReportBuffer = 1
	cfg.Properties = map[string]string{"queue.max.events": "5"}
	c := newClient(t, cfg)
	defer c.Close()
	var ids []string
	for i := 0; i < 20; i++ {
		ev := newEvent()
		if err := c.Send(ev.bytes()); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		ids = append(ids, ev.EventID)
		if _, err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.recordDelivered(t, ids)
}

func TestPauseResume(t *testing.T) {
	e := env(t)
	c := newClient(t, e.config())
	defer c.Close()
	reports := c.Reports()
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	ev := newEvent()
	if err := c.Send(ev.bytes()); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reports:
		t.Fatalf("a report while paused: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if r := read(t, reports, 1, 20*time.Second)[0]; r.Status != Delivered || r.EventID != ev.EventID {
		t.Errorf("after Resume: %+v", r)
	}
	e.recordDelivered(t, []string{ev.EventID})
}

// A client dropped without Close is closed by its finalizer.
func TestFinalizerClosesAnUnreachableClient(t *testing.T) {
	cfg := env(t).config()
	cfg.CloseTimeout = 100 * time.Millisecond
	before := liveClients.Load()
	func() { newClient(t, cfg) }()
	for i := 0; i < 100 && liveClients.Load() > before; i++ {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	if n := liveClients.Load(); n != before {
		t.Errorf("live clients %d, want %d: the finalizer did not close it", n, before)
	}
}

// Many goroutines send and flush at once (run with -race).
func TestConcurrentSenders(t *testing.T) {
	e := env(t)
	c := newClient(t, e.config())
	reports := c.Reports()
	const goroutines, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ids []string
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ev := newEvent()
				if err := c.SendWithTag(ev.bytes(), ev.EventID); err != nil {
					t.Errorf("send: %v", err)
					return
				}
				mu.Lock()
				ids = append(ids, ev.EventID)
				mu.Unlock()
			}
			c.Flush(context.Background())
		}(g)
	}
	got := read(t, reports, goroutines*each, 30*time.Second)
	wg.Wait()
	for _, r := range got {
		if r.Status != Delivered || r.Tag != r.EventID {
			t.Errorf("report %+v", r)
		}
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	e.recordDelivered(t, ids)
}
