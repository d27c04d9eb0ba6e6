package fmsim

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRulesStringMasksSecrets(t *testing.T) {
	var r Rules
	require.NoError(t, r.Apply("adobe_auth=alice:Sup3r-s3cret", "llnw_auth=bob:0ther-s3cret", "auth_secret=t0ken-s3cret"))
	s := r.String()
	require.Equal(t, "auth_secret=*** adobe_auth=alice:*** llnw_auth=bob:***", s)
	v, _ := r.Get("adobe_auth")
	require.Equal(t, "alice:Sup3r-s3cret", v, "Get gives the value")
}

// param is the value of key in a description's "?k=v&..." part.
func param(desc, key string) string {
	_, q, _ := strings.Cut(desc, "?")
	for _, p := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(p, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// An opaque (adobe) or nonce (llnw) answers once, and only while fresh.
func TestPublishAuthChallengeOnce(t *testing.T) {
	srv := &Server{}
	var r Rules
	require.NoError(t, r.Apply("adobe_auth=alice:Sup3r-s3cret"))

	av := srv.checkPublishAuth(&r, "live", "rtmp://h/live")
	require.Equal(t, causeAuthNeeded, av.cause)
	require.Equal(t, "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ", av.desc)

	av = srv.checkPublishAuth(&r, "live?authmod=adobe&user=eve", "")
	require.True(t, av.cause == causeAuthFailed && strings.HasSuffix(av.desc, "?reason=nosuchuser&user=eve"), "%+v", av)

	av = srv.checkPublishAuth(&r, "live?authmod=adobe&user=alice", "")
	require.Equal(t, causeAuthChallenge, av.cause)
	require.Less(t, len(av.desc), 256, "libavformat reads 255 bytes of a description")
	salt, opaque := param(av.desc, "salt"), param(av.desc, "opaque")
	resp := adobeExpected("alice", "Sup3r-s3cret", salt, opaque, "0badf00d")
	answer := "live?authmod=adobe&user=alice&challenge=0badf00d&response=" + resp + "&opaque=" + opaque
	require.Equal(t, authVerdict{}, srv.checkPublishAuth(&r, answer, ""), "the right response")
	av = srv.checkPublishAuth(&r, answer, "")
	require.True(t, av.cause == causeAuthFailed && strings.HasSuffix(av.desc, "?reason=authfailed"), "a replay: %+v", av)

	av = srv.checkPublishAuth(&r, "live?authmod=adobe&user=alice", "")
	opaque = param(av.desc, "opaque")
	srv.nonces.mu.Lock()
	c := srv.nonces.byKey[opaque]
	c.issued = time.Now().Add(-nonceTTL - time.Second)
	srv.nonces.byKey[opaque] = c
	srv.nonces.mu.Unlock()
	resp = adobeExpected("alice", "Sup3r-s3cret", salt, opaque, "0badf00d")
	av = srv.checkPublishAuth(&r, "live?authmod=adobe&user=alice&challenge=0badf00d&response="+resp+"&opaque="+opaque, "")
	require.True(t, av.cause == causeAuthFailed && av.detail == "the challenge expired", "expired: %+v", av)

	for range maxNonces + 10 {
		srv.checkPublishAuth(&r, "live?authmod=adobe&user=alice", "")
	}
	require.LessOrEqual(t, len(srv.nonces.byKey), maxNonces, "outstanding challenges are bounded")
}

// FuzzPublishAuth: no connect app or tcUrl makes the emulator's publish
// auth panic, accept without the password, or answer a description longer
// than libavformat reads (255 bytes).
func FuzzPublishAuth(f *testing.F) {
	f.Add("live", "rtmp://h/live")
	f.Add("live?authmod=adobe&user=alice", "")
	f.Add("live?authmod=llnw&user=alice&nonce=x&cnonce=y&nc=00000001&response=z", "")
	f.Add("live?authmod=adobe&user=alice&challenge=c&response=r&opaque=", "rtmp://h/live?authmod=llnw")
	f.Add("?&&==&authmod=adobe&authmod=llnw&user="+strings.Repeat("a", 300), "")
	f.Fuzz(func(t *testing.T, app, tcURL string) {
		srv := &Server{}
		for _, rule := range []string{"adobe_auth=alice:Sup3r-s3cret", "llnw_auth=alice:Sup3r-s3cret"} {
			var r Rules
			require.NoError(t, r.Apply(rule))
			av := srv.checkPublishAuth(&r, app, tcURL)
			require.NotEqual(t, authVerdict{}, av, "accepted without a challenge issued")
			require.Less(t, len(av.desc), 256)
			if !strings.Contains(app+tcURL, "Sup3r-s3cret") { // else echoed, not leaked
				require.NotContains(t, av.desc+av.detail, "Sup3r-s3cret")
			}
		}
	})
}
