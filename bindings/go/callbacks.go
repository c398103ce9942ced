package evpipe

// The library's callbacks, exported to C. A file with //export may only
// declare in its preamble (cgo's rule), so the C trampolines that pass them
// to the library live in client.go. They run only on goroutines of this
// package that are inside evp_poll, evp_flush or evp_client_destroy
// (callbacks.mode=poll): never on a library thread.

// #include <evpipe/client.h>
import "C"

import (
	"runtime/cgo"
	"time"
	"unsafe"
)

//export evpgoDelivery
func evpgoDelivery(client *C.evp_client_t, report *C.evp_delivery_t, opaque unsafe.Pointer) {
	s := cgo.Handle(uintptr(opaque)).Value().(*state)
	r := DeliveryReport{
		Status:     DeliveryStatus(C.evp_delivery_status(report)),
		Latency:    time.Duration(C.evp_delivery_latency_us(report)) * time.Microsecond,
		Attempts:   int(C.evp_delivery_attempts(report)),
		HTTPStatus: int(C.evp_delivery_http_status(report)),
		FromSpool:  C.evp_delivery_from_spool(report) != 0,
	}
	var idLen C.size_t
	if id := C.evp_delivery_event_id(report, &idLen); idLen > 0 {
		r.EventID = C.GoStringN(id, C.int(idLen))
	}
	if code := C.evp_delivery_error(report); code != C.EVP_OK {
		r.Err = newError(code, C.evp_delivery_reason(report))
	}
	// The per-event opaque is an integer id into s.tags, never a pointer.
	if id := uintptr(C.evp_delivery_opaque(report)); id != 0 && !r.FromSpool {
		r.Tag = s.takeTag(id)
	}
	s.deliver(r)
}

//export evpgoError
func evpgoError(code C.evp_err_t, retrying C.int, reason *C.char, opaque unsafe.Pointer) {
	s := cgo.Handle(uintptr(opaque)).Value().(*state)
	err := &ConnectionError{Err: newError(code, reason), Retrying: retrying != 0}
	// Never blocks: the library keeps at most one of each kind waiting, and
	// Stats() has the last one; a reader that is behind misses some.
	select {
	case s.errors <- err:
	default:
	}
}
