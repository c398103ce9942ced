module example.com/evpipe-examples

go 1.19

require github.com/libevpipe/libevpipe/bindings/go v0.0.0

// The binding is not on a module proxy: it comes from this checkout.
replace github.com/libevpipe/libevpipe/bindings/go => ../../bindings/go
