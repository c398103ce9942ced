//go:build !evpipe_nopkgconfig

package evpipe

// An installed libevpipe is found through pkg-config (evpipe.pc; set
// PKG_CONFIG_PATH for a prefix pkg-config does not search). Build with
// -tags evpipe_nopkgconfig to give the flags in CGO_CFLAGS / CGO_LDFLAGS
// instead, e.g. for a build tree (docs/go.md).

// #cgo pkg-config: evpipe
import "C"
