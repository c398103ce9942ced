module github.com/libevpipe/libevpipe/bindings/go

go 1.19
