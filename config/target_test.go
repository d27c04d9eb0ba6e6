package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const threeTargets = `emulator {}
stream "cam" {
  source = "rtsp://cam/1"
  prefer = "native"
  failover {
    stall_timeout  = "4s"
    failback_after = "1m"
  }
  target "yt"    { url = "rtmp://a.example/live/k1" }
  target "bili"  {
    url    = "rtmp://b.example/live/k2"
    prefer = "ffmpeg"
    failover { stall_timeout = "6s" }
  }
  target "local" { url = "emulator://live/cam" }
}
`

// Each target block is one Stream with the stream's settings, overridden
// attribute by attribute by the target's own.
func TestTargetBlocks(t *testing.T) {
	cfg := mustParse(t, threeTargets)
	require.Len(t, cfg.Streams, 3)
	ids := []string{cfg.Streams[0].ID(), cfg.Streams[1].ID(), cfg.Streams[2].ID()}
	require.Equal(t, []string{"cam/yt", "cam/bili", "cam/local"}, ids)
	yt, bili := cfg.Streams[0], cfg.Streams[1]
	require.Equal(t, "rtmp://a.example/live/k1", yt.Target)
	require.Equal(t, PathNative, yt.Prefer)
	require.Equal(t, 4*time.Second, yt.Failover.StallTimeout)
	require.Equal(t, PathFFmpeg, bili.Prefer, "the target's prefer")
	require.Equal(t, 6*time.Second, bili.Failover.StallTimeout, "the target's stall_timeout")
	require.Equal(t, time.Minute, bili.Failover.FailbackAfter, "the stream's failback_after where the target sets none")
	require.Equal(t, "rtsp://cam/1", bili.Source)
	got, ok := cfg.Stream("cam/bili")
	require.True(t, ok)
	require.Equal(t, "bili", got.TargetName)
}

// A reload that adds a target, removes one and changes none of the others
// names only those two.
func TestDiffPerTarget(t *testing.T) {
	old := mustParse(t, threeTargets)
	new := mustParse(t, strings.Replace(threeTargets, `target "local" { url = "emulator://live/cam" }`,
		`target "tw" { url = "rtmp://c.example/app/k3" }`, 1))
	ch := Diff(old, new)
	require.Equal(t, []string{"cam/tw"}, ch.Added)
	require.Equal(t, []string{"cam/local"}, ch.Removed)
	require.Empty(t, ch.Changed)
}

// An auth block applies to every target; a target's own replaces it
// attribute by attribute.
func TestAuthBlocks(t *testing.T) {
	cfg := mustParse(t, `stream "cam" {
  source = "builtin:sample"
  auth {
    scheme = "tencent"
    key    = "k1"
  }
  target "a" { url = "rtmp://a.example/live/cam" }
  target "b" {
    url = "rtmp://b.example/app/cam"
    auth {
      scheme = "aliyun"
      ttl    = "2h"
    }
  }
}
`)
	require.Equal(t, &Auth{Scheme: AuthTencent, Key: "k1", TTL: 24 * time.Hour}, cfg.Streams[0].Auth)
	require.Equal(t, &Auth{Scheme: AuthAliyun, Key: "k1", TTL: 2 * time.Hour}, cfg.Streams[1].Auth)
	require.Equal(t, "tencent", cfg.Streams[0].Signer().Scheme)
}

// Mistakes in target blocks name the block and the field.
func TestTargetBlockErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/k"
  target "a" { url = "rtmp://h/live/k2" }
}`, `t.hcl:3:3: stream "s": target: use either target`},
		{`stream "s" {
  source = "builtin:sample"
  target "a" { url = "rtmp://h/live/k1" }
  target "a" { url = "rtmp://h/live/k2" }
}`, `t.hcl:4:10: stream "s" target "a": duplicate target name "a" (first defined at t.hcl:3:10)`},
		{`stream "s" {
  source = "builtin:sample"
  target "a" { prefer = "native" }
}`, `t.hcl:3:3: stream "s" target "a": url: missing`},
		{`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/k1"
  auth { key = "SIGNKEY" }
}`, `t.hcl:1:1: stream "s": auth.scheme: missing`},
		{`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/k1"
  auth {
    scheme = "tencent"
    key = "SIGNKEY"
  }
  rtmp { app = "live" }
}`, `stream "s": auth.scheme: cannot be used with rtmp { app }`},
		{`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/k1"
  auth {
    scheme = "qiniu"
    key = "SIGNKEY"
  }
}`, `auth.scheme: "qiniu" is not one of "tencent", "aliyun"`},
		{`stream "s" {
  source = "builtin:sample"
  target "a b" { url = "rtmp://h/live/k1" }
}`, `stream "s" target "a b": bad target name`},
		{`stream "s" {
  source = "builtin:sample"
  target "a" {
    url = "rtmp://h/live/k1"
    failover { stall_timeout = "forever" }
  }
}`, `t.hcl:5:32: stream "s" target "a": failover.stall_timeout: bad duration`},
	} {
		_, err := Parse([]byte(tc.src), "t.hcl")
		require.Error(t, err, tc.src)
		require.Contains(t, err.Error(), tc.want)
		require.NotContains(t, err.Error(), "k1")
		require.NotContains(t, err.Error(), "SIGNKEY")
	}
}

// A hot backup is a push of its own, named after the target it backs up.
func TestHotBackup(t *testing.T) {
	cfg := mustParse(t, `stream "cam" {
  source = "builtin:sample"
  target "yt" {
    url    = "rtmp://a.example/live2/k"
    backup = "rtmp://b.example/live2/k"
  }
}
stream "one" {
  source = "builtin:sample"
  target = "rtmp://a.example/live2/k1"
  backup = "rtmp://b.example/live2/k1"
  backup_mode = "hot"
}
`)
	require.Len(t, cfg.Streams, 4)
	ids := []string{cfg.Streams[0].ID(), cfg.Streams[1].ID(), cfg.Streams[2].ID(), cfg.Streams[3].ID()}
	require.Equal(t, []string{"cam/yt", "cam/yt.backup", "one", "one/backup"}, ids)
	require.Equal(t, "rtmp://b.example/live2/k", cfg.Streams[1].Target)
	require.Equal(t, "cam/yt", cfg.Streams[1].BackupOf)
	require.Empty(t, cfg.Streams[0].BackupOf)

	cold := mustParse(t, `stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/k1"
  backup = "rtmp://h2/live/k1"
  backup_mode = "cold"
}`)
	require.Len(t, cold.Streams, 1)
	require.Equal(t, "rtmp://h2/live/k1", cold.Streams[0].Backup)

	for _, tc := range []struct{ src, want string }{
		{`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/k1"
  backup_mode = "hot"
}`, `stream "s": backup_mode: needs a backup URL`},
		{`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/k1"
  backup = "rtmp://h/live/k1"
}`, `stream "s": backup: must differ from the primary target`},
		{`stream "s" {
  source = "builtin:sample"
  backup = "rtmp://h2/live/k1"
  target "a" { url = "rtmp://h/live/k1" }
}`, `stream "s": backup: with target blocks, a backup belongs in the target block`},
	} {
		_, err := Parse([]byte(tc.src), "t.hcl")
		require.Error(t, err, tc.src)
		require.Contains(t, err.Error(), tc.want)
		require.NotContains(t, err.Error(), "k1")
	}
}
