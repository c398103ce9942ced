//go:build evpipe_nopkgconfig

package evpipe

// With -tags evpipe_nopkgconfig only -levpipe is given here: the include
// directory and library directory come from the environment, e.g. for a
// build tree:
//   CGO_CFLAGS=-I$SRC/include
//   CGO_LDFLAGS="-L$BUILD -Wl,-rpath,$BUILD"

// #cgo LDFLAGS: -levpipe
import "C"
