package rtmp

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// require is a tiny stand-in for testify/require (go.sum carries no hashes
// for testify's own dependencies, and go.mod is shared).
var require requirer

type requirer struct{}

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return ": " + fmt.Sprintf(f, args[1:]...)
	}
	return ": " + fmt.Sprint(args...)
}

func (requirer) NoError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v%s", err, msg(args))
	}
}

func (requirer) Error(t testing.TB, err error, args ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error%s", msg(args))
	}
}

func (requirer) ErrorIs(t testing.TB, err, target error, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v is not %v%s", err, target, msg(args))
	}
}

func (requirer) Equal(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("want %#v, got %#v%s", want, got, msg(args))
	}
}

func (requirer) True(t testing.TB, v bool, args ...any) {
	t.Helper()
	if !v {
		t.Fatalf("expected true%s", msg(args))
	}
}

func (requirer) False(t testing.TB, v bool, args ...any) {
	t.Helper()
	if v {
		t.Fatalf("expected false%s", msg(args))
	}
}

func (requirer) NotNil(t testing.TB, v any, args ...any) {
	t.Helper()
	if v == nil || (reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil()) {
		t.Fatalf("expected non-nil%s", msg(args))
	}
}

func (requirer) Nil(t testing.TB, v any, args ...any) {
	t.Helper()
	if v == nil {
		return
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		if rv.IsNil() {
			return
		}
	}
	t.Fatalf("expected nil, got %#v%s", v, msg(args))
}

func (requirer) GreaterOrEqual(t testing.TB, a, b any, args ...any) {
	t.Helper()
	if toF(a) < toF(b) {
		t.Fatalf("%v < %v%s", a, b, msg(args))
	}
}

func (requirer) Positive(t testing.TB, a any, args ...any) {
	t.Helper()
	if toF(a) <= 0 {
		t.Fatalf("%v is not positive%s", a, msg(args))
	}
}

func toF(v any) float64 {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	}
	panic(fmt.Sprintf("not a number: %T", v))
}
