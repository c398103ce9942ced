package evpipe

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// exportedCodes parses errors.go: each exported ErrXxx constant and the C
// enum constant it is defined from.
func exportedCodes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			sel, ok := v.Values[0].(*ast.SelectorExpr)
			if !ok || sel.X.(*ast.Ident).Name != "C" {
				t.Fatalf("%s is not defined from a C constant", v.Names[0].Name)
			}
			codes[v.Names[0].Name] = sel.Sel.Name
		}
	}
	return codes
}

// goName is the Go constant name for a C name: EVP_ERR_QUEUE_FULL ->
// ErrQueueFull (IO, JSON and HTTP stay upper case, as Go spells acronyms).
func goName(cname string) string {
	var b strings.Builder
	b.WriteString("Err")
	for _, w := range strings.Split(strings.TrimPrefix(cname, "EVP_ERR_"), "_") {
		switch w {
		case "IO", "JSON", "HTTP":
			b.WriteString(w)
		default:
			b.WriteString(w[:1] + strings.ToLower(w[1:]))
		}
	}
	return b.String()
}

// Every code the library names has exactly one exported constant, named
// after it, and defined from the C constant of that name.
func TestErrorCodesMatchTheLibrary(t *testing.T) {
	codes := exportedCodes(t)
	known := 0
	for i := 1; i < 256; i++ {
		name := ErrorCode(i).String()
		if name == "EVP_ERR_UNKNOWN" {
			continue
		}
		known++
		if got, ok := codes[goName(name)]; !ok || got != name {
			t.Errorf("code %d (%s): want const %s = C.%s, have %q", i, name, goName(name), name, got)
		}
	}
	if known != len(codes) {
		t.Errorf("library names %d codes, errors.go exports %d", known, len(codes))
	}
	// The constants' values are the library's (spot checks through String).
	for code, want := range map[ErrorCode]string{ErrQueueFull: "EVP_ERR_QUEUE_FULL",
		ErrConfUnknown: "EVP_ERR_CONF_UNKNOWN", ErrAuth: "EVP_ERR_AUTH", ErrIO: "EVP_ERR_IO",
		ErrPermission: "EVP_ERR_PERMISSION", ErrInvalidArg: "EVP_ERR_INVALID_ARG"} {
		if code.String() != want {
			t.Errorf("%d.String() = %s, want %s", int(code), code.String(), want)
		}
	}
	if ErrorCode(9999).String() != "EVP_ERR_UNKNOWN" {
		t.Errorf("unknown code: %s", ErrorCode(9999).String())
	}
}

func TestErrorIsItsCode(t *testing.T) {
	var err error = fmt.Errorf("wrapped: %w", &Error{Code: ErrQueueFull, Reason: "no room"})
	if !errors.Is(err, ErrQueueFull) || errors.Is(err, ErrAuth) {
		t.Errorf("errors.Is does not follow the code: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrQueueFull || e.Reason != "no room" {
		t.Errorf("errors.As: %#v", e)
	}
	if !strings.HasPrefix(e.Error(), "EVP_ERR_QUEUE_FULL: no room") {
		t.Errorf("message: %q", e.Error())
	}
	conn := &ConnectionError{Err: &Error{Code: ErrAuth}}
	if !errors.Is(conn, ErrAuth) {
		t.Errorf("ConnectionError does not unwrap to its code")
	}
}
