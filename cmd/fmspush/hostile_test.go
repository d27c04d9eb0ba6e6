package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// startServiceWith is startService with the HTTP listen host and the
// service's unexported settings chosen by the test.
func startServiceWith(t *testing.T, host, text string, set func(*service)) *running {
	t.Helper()
	dir := t.TempDir()
	r := &running{t: t, dir: dir, path: filepath.Join(dir, "config.hcl"), logs: &testpeer.LogBuffer{},
		hup: make(chan os.Signal, 1), done: make(chan error, 1)}
	port := testpeer.FreePort(t)
	listen := fmt.Sprintf("%s:%d", host, port)
	r.http = fmt.Sprintf("127.0.0.1:%d", port)
	require.NoError(t, os.WriteFile(r.path, []byte(fmt.Sprintf(text, listen)), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.svc = &service{ConfigPath: r.path, Stderr: r.logs, Reload: r.hup}
	if set != nil {
		set(r.svc)
	}
	go func() { r.done <- r.svc.Run(ctx) }()
	t.Cleanup(r.stop)
	testpeer.WaitTCP(t, r.http, 10*time.Second)
	return r
}

// The config directory removed and created again with a changed file: the
// status says the watch is lost, then the change is applied and the error
// clears.
func TestConfigDirectoryRemovedAndRecreated(t *testing.T) {
	r := startService(t, withStreams(idleStream("a", "emulator://live/a")))
	testpeer.Eventually(t, 5*time.Second, "one stream", func() bool { return len(r.streams()) == 1 })
	require.NoError(t, os.RemoveAll(r.dir))
	testpeer.Eventually(t, 10*time.Second, "the lost watch in config.last_error", func() bool {
		return strings.Contains(r.status().Config.LastError, "not watched")
	})
	require.NoError(t, os.Mkdir(r.dir, 0o755))
	r.writeByRename(withStreams(idleStream("a", "emulator://live/a"), idleStream("b", "emulator://live/b")))
	testpeer.Eventually(t, 10*time.Second, "the change applied", func() bool {
		st := r.status()
		return len(st.Streams) == 2 && st.Config.LastError == ""
	})
	require.Contains(t, r.logs.String(), "watching again", "no \"watching again\" in the log")
	// Watched again: an in-place write is seen.
	r.writeInPlace(withStreams(idleStream("c", "emulator://live/c")))
	testpeer.Eventually(t, 10*time.Second, "a later write applied", func() bool {
		s := r.streams()
		_, ok := s["c"]
		return len(s) == 1 && ok
	})
}

// An idle keep-alive connection is closed by the server after its idle
// timeout.
func TestHTTPIdleKeepAliveClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	r := startServiceWith(t, "127.0.0.1", withStreams(idleStream("a", "emulator://live/a")),
		func(s *service) { s.httpIdleTimeout = idle })
	c, err := net.Dial("tcp", r.http)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: fmspush\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.False(t, resp.Close, "the server did not keep the connection alive")
	idleFrom := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "idle keep-alive connection not closed by the server")
	el := time.Since(idleFrom)
	require.GreaterOrEqual(t, el, idle/2, "closed after %s, before the idle timeout %s", el, idle)
}

func TestStatusAPIBeyondLoopbackWarns(t *testing.T) {
	const warning = "status API listening beyond loopback on 0.0.0.0:"
	r := startServiceWith(t, "0.0.0.0", withStreams(idleStream("a", "emulator://live/a")), nil)
	testpeer.Eventually(t, 5*time.Second, "the warning", func() bool {
		return strings.Contains(r.logs.String(), warning) && strings.Contains(r.logs.String(), "anyone who can reach it reads stream status")
	})
	loop := startService(t, withStreams(idleStream("a", "emulator://live/a")))
	testpeer.Eventually(t, 5*time.Second, "started", func() bool { return strings.Contains(loop.logs.String(), "config applied") })
	require.NotContains(t, loop.logs.String(), "beyond loopback", "warned on a loopback address")
}

func TestLoopbackListen(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8765": true, "127.3.2.1:1": true, "[::1]:8765": true, "localhost:8765": true, "LocalHost:1": true,
		":8765": false, "0.0.0.0:8765": false, "[::]:8765": false, "10.0.0.5:8765": false, "example.com:80": false,
		"[::ffff:10.0.0.1]:1": false, "bogus": false,
	} {
		assert.Equal(t, want, loopbackListen(addr), "loopbackListen(%q)", addr)
	}
}

// A stream whose ffmpeg path would carry its key on the command line is
// named in a warning at start; the warning never holds the key.
func TestFFmpegArgvSecretsWarning(t *testing.T) {
	keyed := "stream \"keyed\" {\n  source = \"builtin:sample\"\n  target = \"rtmp://127.0.0.1:9/live/SECRETKEY123?wsSecret=abc123\"\n  prefer = \"native\"\n}\n"
	libav := "stream \"inproc\" {\n  source = \"builtin:sample\"\n  target = \"rtmp://127.0.0.1:9/live/OTHERKEY456\"\n  ffmpeg {\n    driver = \"libav\"\n  }\n}\n"
	r := startService(t, withStreams(keyed, libav, idleStream("off", "rtmp://127.0.0.1:9/live/OFFKEY789")))
	const want = "stream keyed: the ffmpeg path passes the stream key and the target's auth query on ffmpeg's command line, visible to local users in ps; use the libav driver"
	testpeer.Eventually(t, 5*time.Second, "the argv warning", func() bool { return strings.Contains(r.logs.String(), want) })
	r.cancel()
	<-r.done
	r.done <- nil
	logs := r.logs.String()
	for _, s := range []string{"stream inproc: the ffmpeg path", "stream off: the ffmpeg path"} {
		assert.NotContains(t, logs, s, "warned for a stream whose ffmpeg path carries no key on argv")
	}
	for _, secret := range []string{"SECRETKEY123", "abc123"} {
		assert.NotContains(t, logs, secret, "secret %q in the log", secret)
	}
}

func TestFFmpegArgvSecrets(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`target = "rtmp://h/live/KEY"`, "the stream key"},
		{`target = "rtmp://h/live-bvc/?streamname=live_1&key=K"`, "the target's auth query"},
		{"target = \"rtmp://h\"\n rtmp {\n app = \"live\"\n playpath = \"KEY\"\n}", "the stream key"},
		{`target = "emulator://live/demo"`, ""},
		{`target = "emulator://live/demo?wsSecret=S"`, "the target's auth query"},
		{"target = \"rtmp://h/live/KEY\"\n ffmpeg {\n driver = \"libav\"\n}", ""},
		{"target = \"rtmp://h/live/KEY\"\n enabled = false", ""},
	} {
		src := "emulator {}\nstream \"s\" {\n source = \"builtin:sample\"\n " + c.body + "\n}\n"
		cfg, err := config.Parse([]byte(src), "t.hcl")
		require.NoError(t, err, c.body)
		assert.Equal(t, c.want, joinAnd(ffmpegArgvSecrets(cfg.Streams[0])), c.body)
	}
	cfg, err := config.Parse([]byte("stream \"cam\" {\n source = \"rtsp://viewer:PASS@10.0.0.2/ch1?token=T\"\n target = \"rtmp://h/live/KEY\"\n}\n"), "t.hcl")
	require.NoError(t, err)
	require.Equal(t, "the stream key, the camera's password and the source URL's query", joinAnd(ffmpegArgvSecrets(cfg.Streams[0])), "camera")
}
