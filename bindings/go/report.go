package evpipe

import "time"

// DeliveryStatus is an event's final outcome (evp_delivery_status_t).
type DeliveryStatus int

const (
	// Delivered: the server accepted the event.
	Delivered DeliveryStatus = iota
	// Rejected: the server refused this event for good (Err says why).
	Rejected
	// Failed: not delivered (timeout, authentication, HTTP error, closed).
	Failed
)

func (s DeliveryStatus) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Rejected:
		return "rejected"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// DeliveryReport is the outcome of one event that Send accepted. Every
// accepted event gets exactly one, on Client.Reports().
type DeliveryReport struct {
	// EventID is the event's "event_id" as written in the event (the
	// generated UUIDv7 when the library filled it in).
	EventID string
	Status  DeliveryStatus
	// Err is nil when the event was delivered, otherwise an *Error with the
	// code (ErrInvalidEvent when rejected; ErrTimedOut, ErrAuth, ErrHTTP,
	// ErrTooLarge or ErrState when it failed) and the reason.
	Err error
	// Tag is the value given to SendWithTag (nil for the other Send
	// functions, and for events an earlier run left in the spool).
	Tag any
	// Latency is the time from Send to the outcome.
	Latency time.Duration
	// Attempts is how many requests carried the event (0: never sent).
	Attempts int
	// HTTPStatus is the status of the last response to a request that
	// carried the event (0: none came).
	HTTPStatus int
	// FromSpool is true for an event accepted by an earlier client on the
	// same spool.dir and read back from the spool by this one.
	FromSpool bool
}
