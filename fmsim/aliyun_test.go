package fmsim

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

func TestAliyunKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	name := AliyunName("k3y", "live", "cam", now.Add(time.Minute))
	require.NoError(t, checkAliyunKey("k3y", "live", name, now))
	require.ErrorIs(t, checkAliyunKey("k3y", "live", name, now.Add(2*time.Minute)), errTokenExpired)
	require.ErrorIs(t, checkAliyunKey("other", "live", name, now), errTokenBad)
	require.ErrorIs(t, checkAliyunKey("k3y", "other", name, now), errTokenBad, "the app is signed")
	require.ErrorIs(t, checkAliyunKey("k3y", "live", "cam", now), errTokenMissing)
	require.ErrorIs(t, checkAliyunKey("k3y", "live", "cam?auth_key=1-2-3", now), errTokenBad)
	require.ErrorIs(t, checkAliyunKey("k3y", "live", "cam?auth_key=x-0-0-"+md5hex("/live/cam-x-0-0-k3y"), now), errTokenTime)
	// An expired token that is also wrong is wrong: the signature first.
	old := AliyunName("other", "live", "cam", now.Add(-time.Minute))
	require.ErrorIs(t, checkAliyunKey("k3y", "live", old, now), errTokenBad)

	// Alibaba Cloud CDN's type A worked example (no ApsaraVideo Live
	// example is published in full): /video/standard/test.mp4, key
	// aliyuncdnexp1234, timestamp 1444435200, rand and uid 0.
	const doc = "test.mp4?auth_key=1444435200-0-0-23bf85053008f5c0e791667a313e28ce"
	require.NoError(t, checkAliyunKey("aliyuncdnexp1234", "video/standard", doc, time.Unix(1444435200, 0)))
	require.ErrorIs(t, checkAliyunKey("aliyuncdnexp1234", "video/standard", doc, time.Unix(1444435201, 0)), errTokenExpired)
}

// lockedBuffer is a log sink the server's goroutines write concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAliyunKeyRule publishes with a fresh auth_key, then with an expired,
// a wrong and no auth_key, each refused at L3 with its cause; neither the
// key nor a token shows in the log or the transcripts.
func TestAliyunKeyRule(t *testing.T) {
	t.Parallel()
	const key = "al1yunKeyForTests"
	var logs lockedBuffer
	s := &Server{Listen: "127.0.0.1:0", Profile: ProfileCloud, Rules: []string{"aliyun_key=" + key},
		TranscriptDir: t.TempDir(), Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})}
	require.NoError(t, s.Start())
	t.Cleanup(func() { require.NoError(t, s.Close()) })

	fresh := AliyunName(key, "live", "cam1", time.Now().Add(time.Hour))
	p, err := dialPublisher(t, s, fresh, rtmp.PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	info := waitEnded(t, s, 1, 10*time.Second)
	require.True(t, info.Published())
	require.Equal(t, "cam1", info.StreamName)

	cases := []struct{ name, cause string }{
		{AliyunName(key, "live", "cam1", time.Now().Add(-time.Minute)), "auth_expired"},
		{AliyunName("wrong", "live", "cam1", time.Now().Add(time.Hour)), "auth_bad"},
		{"cam1", "auth_missing"},
	}
	for i, c := range cases {
		_, err := dialPublisher(t, s, c.name, rtmp.PublishOptions{})
		require.Error(t, err)
		v := health.AsVerdict(err)
		require.Equal(t, health.LayerPublish, v.Layer, "%v", err)
		info := waitEnded(t, s, i+2, 10*time.Second)
		require.Equal(t, health.LayerPublish, info.Verdict.Layer)
		require.Equal(t, "aliyun_key", info.Verdict.Rule)
		require.Equal(t, c.cause, info.Verdict.Cause)
		require.Contains(t, info.Verdict.Detail, "auth_key")
	}

	secrets := []string{key}
	for _, c := range append(cases[:2], struct{ name, cause string }{fresh, ""}) {
		_, tok, _ := strings.Cut(c.name, "auth_key=")
		secrets = append(secrets, tok, tok[strings.LastIndexByte(tok, '-')+1:])
	}
	texts := map[string]string{"log": logs.String(), "rules": s.CurrentRules().String()}
	for _, si := range s.Sessions() {
		b, err := os.ReadFile(si.Transcript)
		require.NoError(t, err)
		texts[si.Transcript] = string(b)
	}
	for what, text := range texts {
		for _, sec := range secrets {
			require.NotContains(t, text, sec, "%s shows a secret", what)
		}
	}
	require.Contains(t, s.CurrentRules().String(), "aliyun_key=***")
}

func TestRulesStringMasksKeys(t *testing.T) {
	var r Rules
	require.NoError(t, r.Apply("auth_secret=s3cret", "aliyun_key=k3y", "stream_id=7"))
	require.Equal(t, "auth_secret=*** aliyun_key=*** stream_id=7", r.String())
	v, ok := r.Get("aliyun_key")
	require.True(t, ok)
	require.Equal(t, "k3y", v)
}

// FuzzAuthChecks: whatever publish name and app a client sends, the token
// checks neither panic nor accept a name the key did not sign.
func FuzzAuthChecks(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add("live", AliyunName("k", "live", "cam", now.Add(time.Hour)))
	f.Add("live?x=1", "cam?auth_key=1-2-3-4-5&auth_key=")
	f.Add("", SignedName("k", "cam", now.Add(time.Hour)))
	f.Add("a/b", "?auth_key=%zz&txSecret=&txTime=ffffffffffffffff")
	f.Fuzz(func(t *testing.T, app, name string) {
		if err := checkAliyunKey("k", app, name, now); err == nil && !strings.Contains(name, "auth_key=") {
			t.Fatalf("accepted %q without auth_key", name)
		}
		if err := checkToken("k", name, now); err == nil && !strings.Contains(name, "Secret=") {
			t.Fatalf("accepted %q without a secret", name)
		}
	})
}
