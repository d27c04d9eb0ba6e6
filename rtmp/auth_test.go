package rtmp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The responses match values computed apart (Python's hashlib and base64)
// from libavformat's formulas.
func TestAuthResponses(t *testing.T) {
	require.Equal(t, "bwvSg+TcN8MyjcnncLXdyg==", adobeResponse("alice", "s3cretpw", "Zx9salt", "OPQ123", "0badf00d"))
	require.Equal(t, "13aab8c3fbbae40e335a2c48cf94a9a6", llnwResponse("alice", "s3cretpw", "live", "NONCE1", "00000001", "0badf00d"))
	// An app with an instance is the URI as it is.
	require.Equal(t, llnwResponse("alice", "s3cretpw", "live/_definst_", "NONCE1", "00000001", "0badf00d"),
		llnwResponse("alice", "s3cretpw", "live", "NONCE1", "00000001", "0badf00d"))
}

func TestParseAuthReject(t *testing.T) {
	r := parseAuthReject("[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ")
	require.Equal(t, authReject{Mod: AuthAdobe, NeedAuth: true}, r)
	r = parseAuthReject("[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=alice&salt=S1&challenge=C1&opaque=O1")
	require.Equal(t, authReject{Mod: AuthAdobe, Reason: "needauth", User: "alice", Salt: "S1", Challenge: "C1", Opaque: "O1",
		HasOpaque: true, HasChallenge: true}, r)
	r = parseAuthReject("[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&user=bob&nonce=N1")
	require.Equal(t, authReject{Mod: AuthLLNW, Reason: "needauth", User: "bob", Nonce: "N1"}, r)
	r = parseAuthReject("[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed&opaque=x")
	require.Equal(t, "authfailed", r.Reason)
	require.Equal(t, authReject{}, parseAuthReject("flashVer \"LNX\" is refused"))
}

func TestURLCredentials(t *testing.T) {
	for _, tc := range []struct {
		url, user, pass string
		ok              bool
	}{
		{"rtmp://alice:pw@h:1935/live/key", "alice", "pw", true},
		{"rtmp://a@b:p@ss@h/live/key", "a@b", "p@ss", true}, // the last '@' ends the userinfo
		{"rtmp://alice@h/live/key", "alice", "", false},
		{"rtmp://h/live/k@ey", "", "", false}, // an '@' in the path is the key's
		{"rtmp://:pw@h/live/key", "", "pw", false},
		{"nonsense", "", "", false},
	} {
		u, p, ok := urlCredentials(tc.url)
		require.Equal(t, []any{tc.user, tc.pass, tc.ok}, []any{u, p, ok}, tc.url)
	}
}

// The client's rounds are libavformat's, bounded: at most "need auth", then
// the challenge; a server that asks again, or rejects the response, ends it.
func TestClientAuthRounds(t *testing.T) {
	const needAuth = "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : "
	const challenge = "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=alice&salt=S&challenge=C&opaque=O"
	a := newClientAuth("rtmp://alice:s3cretpw@h/live/key")
	q, cause, err := a.next(needAuth, "live")
	require.True(t, q == "?authmod=adobe&user=alice" && cause == "" && err == nil, "%q %q %v", q, cause, err)
	q, cause, err = a.next(needAuth, "live")
	require.True(t, q == "" && cause == CauseAuthFailed && err != nil, "asked twice: %q %q %v", q, cause, err)

	a = newClientAuth("rtmp://alice:s3cretpw@h/live/key")
	q, _, _ = a.next(challenge, "live")
	require.True(t, strings.HasPrefix(q, "?authmod=adobe&user=alice&challenge=") && strings.HasSuffix(q, "&opaque=O"), q)
	require.NotContains(t, q, "s3cretpw")
	_, cause, err = a.next(challenge, "live")
	require.Equal(t, CauseAuthFailed, cause, "a second challenge after the response: %v", err)

	a = newClientAuth("rtmp://alice:s3cretpw@h/live/key")
	_, cause, err = a.next("[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=authfailed", "live")
	require.Equal(t, CauseAuthFailed, cause)
	require.NotContains(t, err.Error(), "s3cretpw")

	a = newClientAuth("rtmp://h/live/key")
	_, cause, _ = a.next(needAuth, "live")
	require.Equal(t, CauseAuthRequired, cause, "no credentials in the URL")

	q, cause, err = a.next(`flashVer "LNX" is refused`, "live")
	require.True(t, q == "" && cause == "" && err == nil, "not about auth: %q %q %v", q, cause, err)
}

// FuzzParseAuthReject: no description makes the parser panic, what it
// returns are parts of the description (no copies: bounded memory), and the
// client's next step from it never carries the password.
func FuzzParseAuthReject(f *testing.F) {
	f.Add("[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ")
	f.Add("[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=alice&salt=S&challenge=C&opaque=O")
	f.Add("[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&user=alice&nonce=N")
	f.Add("authmod=llnw ?reason=authfailed")
	f.Add("authmod=adobe?reason=needauth&&=&user&opaque=&" + strings.Repeat("k=v&", 200))
	f.Fuzz(func(t *testing.T, desc string) {
		r := parseAuthReject(desc)
		for _, s := range []string{r.Reason, r.User, r.Salt, r.Challenge, r.Opaque, r.Nonce} {
			require.Contains(t, desc, s)
			require.LessOrEqual(t, len(s), maxAuthDesc)
		}
		require.Contains(t, []string{"", AuthAdobe, AuthLLNW}, r.Mod)
		allocs := testing.AllocsPerRun(1, func() { parseAuthReject(desc) })
		require.Zero(t, allocs, "parsing allocates")
		if strings.Contains(desc, "Pw-7f3kq") {
			return // echoed by the server, not leaked by the client
		}
		a := newClientAuth("rtmp://alice:Pw-7f3kq@h/live/key")
		for range 3 {
			q, _, err := a.next(desc, "live")
			require.NotContains(t, q, "Pw-7f3kq")
			if err != nil {
				require.NotContains(t, err.Error(), "Pw-7f3kq")
			}
		}
	})
}
