package testpeer

import (
	"strings"
	"testing"

	"github.com/fmspush/fmspush/signurl"
)

// SignScheme is a signed-URL scheme and the emulator rule that checks it.
type SignScheme struct{ Scheme, Rule string }

// SignSchemes are the signed-URL schemes signurl makes, each with the
// emulator's rule.
var SignSchemes = []SignScheme{
	{signurl.SchemeTencent, "auth_secret"},
	{signurl.SchemeAliyun, "aliyun_key"},
}

// SignatureValues are the values a signed URL's signature parameters carry
// (txSecret and txTime, or auth_key and its hash): none may show in a
// verdict, a probe result or a log. It fails the test when there are none.
func SignatureValues(t testing.TB, signed string) []string {
	t.Helper()
	_, q, _ := strings.Cut(signed, "?")
	var out []string
	for _, pair := range strings.Split(q, "&") {
		name, v, _ := strings.Cut(pair, "=")
		switch name {
		case signurl.ParamTxSecret, signurl.ParamTxTime:
			out = append(out, v)
		case signurl.ParamAuthKey:
			out = append(out, v, v[strings.LastIndexByte(v, '-')+1:])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no signature in the signed URL")
	}
	return out
}
