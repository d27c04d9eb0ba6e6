package fmsim

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// require is a small stand-in for testify/require: go.sum carries no hashes
// for testify's own dependencies and go.mod is shared.
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

func toFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

func (r requirer) EqualValues(t testing.TB, want, got any, args ...any) {
	t.Helper()
	a, okA := toFloat(want)
	b, okB := toFloat(got)
	if okA && okB {
		if a != b {
			t.Fatalf("want %v, got %v%s", want, got, msg(args))
		}
		return
	}
	r.Equal(t, want, got, args...)
}

func (requirer) True(t testing.TB, ok bool, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf("expected true%s", msg(args))
	}
}

func (requirer) False(t testing.TB, ok bool, args ...any) {
	t.Helper()
	if ok {
		t.Fatalf("expected false%s", msg(args))
	}
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Chan, reflect.Func:
		return rv.IsNil()
	}
	return false
}

func (requirer) Nil(t testing.TB, v any, args ...any) {
	t.Helper()
	if !isNil(v) {
		t.Fatalf("expected nil, got %#v%s", v, msg(args))
	}
}

func (requirer) NotNil(t testing.TB, v any, args ...any) {
	t.Helper()
	if isNil(v) {
		t.Fatalf("expected a value%s", msg(args))
	}
}

func (requirer) Positive(t testing.TB, v any, args ...any) {
	t.Helper()
	if f, _ := toFloat(v); f <= 0 {
		t.Fatalf("expected > 0, got %v%s", v, msg(args))
	}
}

func (requirer) Greater(t testing.TB, a, b any, args ...any) {
	t.Helper()
	x, _ := toFloat(a)
	y, _ := toFloat(b)
	if x <= y {
		t.Fatalf("expected %v > %v%s", a, b, msg(args))
	}
}

func (requirer) InDelta(t testing.TB, want, got any, delta float64, args ...any) {
	t.Helper()
	x, _ := toFloat(want)
	y, _ := toFloat(got)
	if math.Abs(x-y) > delta {
		t.Fatalf("want %v ± %v, got %v%s", want, delta, got, msg(args))
	}
}
