package evpipe

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <evpipe/client.h>

extern void evpgoDelivery(evp_client_t *client, evp_delivery_t *report, void *opaque);
extern void evpgoError(evp_err_t code, int retrying, char *reason, void *opaque);

// Trampolines with the library's exact callback types (the exported Go
// functions cannot take const pointers).
static void evpgo_delivery_cb(evp_client_t *c, const evp_delivery_t *r, void *opaque) {
  evpgoDelivery(c, (evp_delivery_t *)r, opaque);
}
static void evpgo_error_cb(evp_err_t err, int retrying, const char *reason, void *opaque) {
  evpgoError(err, retrying, (char *)reason, opaque);
}

// The client-level opaque is a runtime/cgo.Handle: an integer, not a Go pointer.
static void evpgo_set_callbacks(evp_conf_t *conf, uintptr_t handle) {
  evp_conf_set_delivery_cb(conf, evpgo_delivery_cb, (void *)handle);
  evp_conf_set_error_cb(conf, evpgo_error_cb);
  evp_conf_set_opaque(conf, (void *)handle);
}

// Each wrapper keeps the error text on the C stack and hands a malloc'ed
// copy (freed by Go) to *reason only on failure, so the success path
// allocates nothing.
#define EVPGO_ERRSTR 512
static evp_err_t evpgo_conf_set(evp_conf_t *conf, const char *name, const char *value,
                                char **reason) {
  char buf[EVPGO_ERRSTR] = "";
  evp_err_t err = evp_conf_set(conf, name, value, buf, sizeof buf);
  if (err != EVP_OK) *reason = strdup(buf);
  return err;
}
static evp_client_t *evpgo_client_new(evp_conf_t *conf, evp_err_t *code, char **reason) {
  char buf[EVPGO_ERRSTR] = "";
  evp_client_t *c = evp_client_create(conf, code, buf, sizeof buf);
  if (!c) *reason = strdup(buf);
  return c;
}
static evp_err_t evpgo_send(evp_client_t *c, const void *json, size_t len, uintptr_t id,
                            char **reason) {
  char buf[EVPGO_ERRSTR] = "";
  evp_err_t err = evp_send_opaque(c, json, len, (void *)id, buf, sizeof buf);
  if (err != EVP_OK) *reason = strdup(buf);
  return err;
}
// A Go string is passed as is (no copy): evp_send copies the event.
static evp_err_t evpgo_send_str(evp_client_t *c, _GoString_ json, uintptr_t id, char **reason) {
  return evpgo_send(c, _GoStringPtr(json), _GoStringLen(json), id, reason);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Config configures a client. The common properties have fields; any other
// property of docs/CONFIGURATION.md goes in Properties under its name.
// callbacks.mode is always poll (the binding serves reports from its own
// goroutine); setting it to anything else is an error.
type Config struct {
	Endpoint     string // endpoint: base URL of the ingestion service
	ClientID     string // client.id
	ClientSecret string // client.secret (copied into the library, wiped there on Close)
	Audience     string // audience
	SchemaFile   string // schema.file: validate every event against this JSON Schema
	// Properties are set after the fields above, in name order.
	Properties map[string]string
	// ReportBuffer is the capacity of the Reports() channel (default 1024).
	ReportBuffer int
	// CloseTimeout bounds Close: how long it keeps sending, and how long it
	// waits for a reader of Reports() to take the last reports (default 5 s).
	CloseTimeout time.Duration
}

// DefaultReportBuffer and DefaultCloseTimeout are the Config defaults.
const (
	DefaultReportBuffer = 1024
	DefaultCloseTimeout = 5 * time.Second
)

// Client sends events to an evpipe ingestion service. Its methods may be
// called from any goroutine. Close it when done; a Client that becomes
// unreachable without Close is closed by a finalizer (a safety net, not a
// substitute: its last reports are not read by anyone).
type Client struct {
	s *state
}

// state is what the library's callbacks and the poll goroutine reach (via a
// cgo.Handle). It is separate from Client so that the Client can become
// unreachable, and its finalizer run, while they are alive.
type state struct {
	mu     sync.RWMutex // RLock around calls into c; Lock for evp_client_destroy
	c      *C.evp_client_t
	handle cgo.Handle
	closed bool // under mu

	closeOnce    sync.Once
	closeErr     error
	closeTimeout time.Duration
	closing      chan struct{} // closed when Close starts
	closeGrace   chan struct{} // closed when Close stops waiting for a reader
	pollDone     chan struct{} // closed when the poll goroutine has returned

	reports     chan DeliveryReport
	wantReports atomic.Bool // set by Reports(): until then reports are discarded
	dropped     atomic.Uint64
	errors      chan error

	tagMu  sync.Mutex
	tags   map[uintptr]any
	nextID atomic.Uintptr

	overflowMu     sync.Mutex
	overflow       []DeliveryReport // reports a Flush whose context ended could not hand over
	expiredFlushes atomic.Int32
}

var liveClients atomic.Int64 // for the finalizer test

// NewClient checks the configuration and starts a client. It does not
// contact the server: the first token is fetched in the background, and
// problems with it arrive on Errors() and in the delivery reports.
// A refused property gives an *Error with ErrConfUnknown or ErrConfInvalid
// and a reason naming it; a configuration the library cannot use gives the
// library's code for it: ErrConfInvalid (missing endpoint or credentials),
// ErrIO (unreadable schema file), ErrPermission (a SpoolDir open to other
// users), ErrState (a SpoolDir used by another client)...
func NewClient(cfg Config) (*Client, error) {
	conf := C.evp_conf_new()
	if conf == nil {
		return nil, &Error{Code: ErrNomem}
	}
	owned := true
	defer func() {
		if owned {
			C.evp_conf_destroy(conf)
		}
	}()
	for _, p := range [][2]string{{"endpoint", cfg.Endpoint}, {"client.id", cfg.ClientID},
		{"client.secret", cfg.ClientSecret}, {"audience", cfg.Audience}, {"schema.file", cfg.SchemaFile}} {
		if p[1] != "" {
			if err := confSet(conf, p[0], p[1]); err != nil {
				return nil, err
			}
		}
	}
	names := make([]string, 0, len(cfg.Properties))
	for name := range cfg.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "callbacks.mode" && cfg.Properties[name] != "poll" {
			return nil, &Error{Code: ErrConfInvalid, Reason: "callbacks.mode: the Go binding " +
				"serves callbacks from its own goroutine, so it must be poll"}
		}
		if err := confSet(conf, name, cfg.Properties[name]); err != nil {
			return nil, err
		}
	}
	if err := confSet(conf, "callbacks.mode", "poll"); err != nil {
		return nil, err
	}

	s := &state{
		closeTimeout: cfg.CloseTimeout,
		closing:      make(chan struct{}),
		closeGrace:   make(chan struct{}),
		pollDone:     make(chan struct{}),
		errors:       make(chan error, 16),
		tags:         make(map[uintptr]any),
	}
	if s.closeTimeout <= 0 {
		s.closeTimeout = DefaultCloseTimeout
	}
	buf := cfg.ReportBuffer
	if buf <= 0 {
		buf = DefaultReportBuffer
	}
	s.reports = make(chan DeliveryReport, buf)
	s.handle = cgo.NewHandle(s)
	C.evpgo_set_callbacks(conf, C.uintptr_t(s.handle))
	var reason *C.char
	var code C.evp_err_t
	s.c = C.evpgo_client_new(conf, &code, &reason)
	if s.c == nil {
		s.handle.Delete()
		return nil, takeError(code, reason)
	}
	owned = false // the client took conf
	liveClients.Add(1)
	go s.pollLoop()
	c := &Client{s: s}
	runtime.SetFinalizer(c, func(c *Client) { go c.s.close() })
	return c, nil
}

// confSet sets one property; the C copies of the name and value are wiped
// before they are freed (the value may be the secret).
func confSet(conf *C.evp_conf_t, name, value string) error {
	cname, cvalue := C.CString(name), C.CString(value)
	defer func() {
		C.memset(unsafe.Pointer(cvalue), 0, C.size_t(len(value)))
		C.free(unsafe.Pointer(cname))
		C.free(unsafe.Pointer(cvalue))
	}()
	var reason *C.char
	if code := C.evpgo_conf_set(conf, cname, cvalue, &reason); code != C.EVP_OK {
		return takeError(code, reason)
	}
	return nil
}

// takeError builds an *Error and frees the malloc'ed reason.
func takeError(code C.evp_err_t, reason *C.char) error {
	err := newError(code, reason)
	C.free(unsafe.Pointer(reason))
	return err
}

var errClosed = &Error{Code: ErrState, Reason: "the client is closed"}

// Send validates one event (a JSON object) and queues it for delivery; its
// outcome arrives later on Reports(). The bytes are read during the call
// only (the library copies them). A refused event gives an *Error:
// ErrInvalidEvent or ErrJSON with the JSON path and reason, ErrTooLarge,
// ErrQueueFull (no room: see Reports() about reading reports), ErrState
// after Close.
func (c *Client) Send(event []byte) error { return c.send(event, nil) }

// SendWithTag is Send with a tag that comes back in the event's
// DeliveryReport.Tag. The tag stays in Go: the library sees only an integer.
func (c *Client) SendWithTag(event []byte, tag any) error { return c.send(event, tag) }

// SendString is Send for an event in a string (not copied either).
func (c *Client) SendString(event string) error {
	s := c.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || isClosed(s.closing) {
		return errClosed
	}
	var reason *C.char
	if code := C.evpgo_send_str(s.c, event, 0, &reason); code != C.EVP_OK {
		return takeError(code, reason)
	}
	return nil
}

// SendJSON marshals v with encoding/json and sends it.
func (c *Client) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.send(b, nil)
}

func (c *Client) send(event []byte, tag any) error {
	s := c.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || isClosed(s.closing) {
		return errClosed
	}
	var id uintptr
	if tag != nil {
		id = s.nextID.Add(1)
		s.tagMu.Lock()
		s.tags[id] = tag
		s.tagMu.Unlock()
	}
	var p unsafe.Pointer
	if len(event) > 0 {
		p = unsafe.Pointer(&event[0])
	}
	var reason *C.char
	code := C.evpgo_send(s.c, p, C.size_t(len(event)), C.uintptr_t(id), &reason)
	if code != C.EVP_OK {
		if id != 0 {
			s.takeTag(id) // refused: no report will come for it
		}
		return takeError(code, reason)
	}
	return nil
}

func (s *state) takeTag(id uintptr) any {
	s.tagMu.Lock()
	defer s.tagMu.Unlock()
	tag := s.tags[id]
	delete(s.tags, id)
	return tag
}

// Flush sends everything now and waits until every accepted event has its
// outcome and its report has been handed to Reports() (when Reports() is
// used), or until ctx is done. It returns how many events are still
// pending (0 when all are done) and ctx.Err() when ctx ended first.
// While the Reports() channel is full Flush waits for a reader, like the
// poll goroutine does; when ctx ends, the reports it holds are kept and
// handed over later.
func (c *Client) Flush(ctx context.Context) (int, error) {
	s := c.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || isClosed(s.closing) {
		return 0, errClosed
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // lets a report blocked on a full channel give up when ctx ends
		select {
		case <-ctx.Done():
			s.expiredFlushes.Add(1)
			<-done
			s.expiredFlushes.Add(-1)
		case <-done:
		}
	}()
	for {
		wait := 100 * time.Millisecond
		if deadline, ok := ctx.Deadline(); ok {
			if left := time.Until(deadline); left < wait {
				wait = left
			}
		}
		if wait < 0 {
			wait = 0
		}
		n := C.evp_flush(s.c, C.int(wait.Milliseconds()))
		if n < 0 {
			return 0, &Error{Code: ErrState, Reason: "evp_flush refused"}
		}
		if n == 0 {
			return 0, nil
		}
		if err := ctx.Err(); err != nil {
			return int(n), err
		}
		if isClosed(s.closing) {
			return int(n), errClosed
		}
	}
}

// Pause stops sending (no request, token fetch or retry starts) until
// Resume; Send keeps accepting events. Flush and Close still send.
func (c *Client) Pause() error {
	return c.s.call(func(p *C.evp_client_t) C.int { return C.evp_client_pause(p) })
}

// Resume sends again after Pause.
func (c *Client) Resume() error {
	return c.s.call(func(p *C.evp_client_t) C.int { return C.evp_client_resume(p) })
}

func (s *state) call(f func(*C.evp_client_t) C.int) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	if f(s.c) != 0 {
		return &Error{Code: ErrState}
	}
	return nil
}

// Stats returns the client's counters as the library's JSON object
// (evp_client_stats; see docs/client.md).
func (c *Client) Stats() (json.RawMessage, error) {
	s := c.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	p := C.evp_client_stats(s.c)
	if p == nil {
		return nil, &Error{Code: ErrNomem}
	}
	defer C.evp_free(unsafe.Pointer(p))
	return json.RawMessage(C.GoString(p)), nil
}

// Reports returns the channel of delivery reports: one for every event
// Send accepted, delivered or not. Reports are discarded until Reports is
// first called. The channel is bounded (Config.ReportBuffer): while it is
// full, the client waits for a reader, and the reports not yet handed over
// keep counting against queue.max.events / queue.max.bytes, so Send
// eventually returns ErrQueueFull (back-pressure, not unbounded memory).
// Close closes the channel after the last report; it waits at most
// Config.CloseTimeout for a reader to take them (DroppedReports counts those
// it could not hand over), so Close never hangs on an unread channel.
func (c *Client) Reports() <-chan DeliveryReport {
	c.s.wantReports.Store(true)
	return c.s.reports
}

// DroppedReports is how many reports Close could not hand to Reports()
// (nobody read them within Config.CloseTimeout).
func (c *Client) DroppedReports() uint64 { return c.s.dropped.Load() }

// Errors returns the channel of *ConnectionError: problems with the service
// rather than one event (bad credentials, unreachable server), as they
// happen. Buffered (16); when it is full newer errors are dropped (Stats
// keeps the last one). Closed by Close.
func (c *Client) Errors() <-chan error { return c.s.errors }

// Close stops accepting events, keeps sending for up to Config.CloseTimeout,
// reports what is left as failed, and frees the library's client (its
// secret and token are wiped). It returns an *Error with ErrTimedOut when
// events were not delivered (their reports say why; with spool.dir they
// stay in the spool for the next client). Calling it again returns the same
// result. After Close every method returns ErrState.
func (c *Client) Close() error {
	runtime.SetFinalizer(c, nil)
	return c.s.close()
}

func (s *state) close() error {
	s.closeOnce.Do(func() {
		grace := time.AfterFunc(s.closeTimeout, func() { close(s.closeGrace) })
		close(s.closing)
		<-s.pollDone
		s.mu.Lock() // waits for Send, Flush, Stats... in progress
		s.closed = true
		n := C.evp_client_destroy(s.c, C.int(s.closeTimeout.Milliseconds()))
		s.c = nil
		s.mu.Unlock()
		for _, r := range s.takeOverflow() {
			s.handOver(r)
		}
		grace.Stop()
		close(s.reports)
		close(s.errors)
		s.handle.Delete()
		liveClients.Add(-1)
		switch {
		case n < 0:
			s.closeErr = &Error{Code: ErrState, Reason: "evp_client_destroy refused"}
		case n > 0:
			s.closeErr = &Error{Code: ErrTimedOut,
				Reason: fmt.Sprintf("%d events not delivered at close", int64(n))}
		}
	})
	return s.closeErr
}

// pollLoop serves the library's callbacks (callbacks.mode=poll) until Close.
func (s *state) pollLoop() {
	defer close(s.pollDone)
	for !isClosed(s.closing) {
		for _, r := range s.takeOverflow() {
			s.deliver(r)
		}
		C.evp_poll(s.c, 100)
	}
}

func (s *state) takeOverflow() []DeliveryReport {
	s.overflowMu.Lock()
	defer s.overflowMu.Unlock()
	o := s.overflow
	s.overflow = nil
	return o
}

// deliver hands a report to the channel, waiting while it is full (the
// back-pressure), until Close starts or a Flush's context ends (then the
// report waits in overflow for the poll goroutine).
func (s *state) deliver(r DeliveryReport) {
	if !s.wantReports.Load() {
		return
	}
	select {
	case s.reports <- r:
		return
	default:
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s.reports <- r:
			return
		case <-s.closing:
			s.handOver(r)
			return
		case <-tick.C:
			if s.expiredFlushes.Load() > 0 {
				s.overflowMu.Lock()
				s.overflow = append(s.overflow, r)
				s.overflowMu.Unlock()
				return
			}
		}
	}
}

// handOver is deliver during Close: wait for a reader until the grace ends.
func (s *state) handOver(r DeliveryReport) {
	if !s.wantReports.Load() {
		return
	}
	select {
	case s.reports <- r:
	case <-s.closeGrace:
		s.dropped.Add(1)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
