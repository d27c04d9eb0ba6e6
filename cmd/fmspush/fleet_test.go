package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fleet"
	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// fleetTTL is the lease TTL of the fleet tests: the default.
const fleetTTL = 5 * time.Second

// fleetRig is a fleet under test: etcd, one emulator (single_publisher on)
// and fmspush nodes, each a `fmspush run` process reaching etcd through
// its own proxy (so that one node can be cut from etcd).
type fleetRig struct {
	t     testing.TB // the test or subtest running now
	root  testing.TB // the rig's cleanups
	etcd  *testpeer.Etcd
	emu   *fmsim.Server
	names []string // the emulator's stream names, one a push
	nodes map[string]*fleetProc
	// tokenFile holds fleetToken, every node's control API token.
	tokenFile string
}

// fleetToken is the nodes' control API token.
const fleetToken = "fleet-test-token-0123456789"

// fleetProc is one node's process.
type fleetProc struct {
	name  string
	http  string
	path  string // its config file
	proxy *testpeer.Proxy
	cmd   *exec.Cmd
	logs  *testpeer.LogBuffer
	done  chan error
}

func newFleetRig(t testing.TB, streams int, nodes ...string) *fleetRig {
	t.Helper()
	testpeer.Need(t, "ffmpeg", "etcd")
	r := &fleetRig{t: t, root: t, etcd: testpeer.StartEtcd(t), nodes: map[string]*fleetProc{},
		emu: fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient, Rules: []string{"single_publisher=true"}})}
	for i := range streams {
		r.names = append(r.names, fmt.Sprintf("cam%02d", i))
	}
	r.tokenFile = filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(r.tokenFile, []byte(fleetToken), 0o600))
	t.Cleanup(func() {
		if t.Failed() {
			r.dump(nil)
		}
	})
	for _, n := range nodes {
		r.start(n)
	}
	return r
}

// config is a node's config: the same streams on every node.
func (r *fleetRig) config(p *fleetProc) string {
	cfg := fmt.Sprintf("service {\n  http_listen = %q\n  api_token_file = %q\n  fleet {\n    etcd = [\"http://u:fleetsecret@%s\"]\n    node = %q\n  }\n}\n",
		p.http, r.tokenFile, p.proxy.Addr(), p.name)
	for _, n := range r.names {
		cfg += fmt.Sprintf("stream %q {\n  source = \"builtin:sample\"\n  target = %q\n  failover {\n    backoff_initial = \"200ms\"\n    backoff_max = \"1s\"\n  }\n}\n",
			n, r.emu.URL("live", n))
	}
	return cfg
}

// start starts node name (again, after a kill or a stop: the same name,
// proxy and config).
func (r *fleetRig) start(name string) *fleetProc {
	t := r.root
	t.Helper()
	p := r.nodes[name]
	if p == nil {
		p = &fleetProc{name: name, http: fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t)), proxy: testpeer.StartProxy(t, r.etcd.Addr)}
		p.path = filepath.Join(t.TempDir(), name+".hcl")
		require.NoError(t, os.WriteFile(p.path, []byte(r.config(p)), 0o644))
		r.nodes[name] = p
	}
	p.cmd = exec.Command(binary(t), "run", "-config", p.path)
	p.logs = &testpeer.LogBuffer{}
	p.cmd.Stderr = p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	p.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(p.cmd, p.done)
	t.Cleanup(func() { p.kill() })
	return p
}

// kill ends the node's process with SIGKILL and waits for it.
func (p *fleetProc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// get reads a node's JSON document at path.
func (p *fleetProc) get(path string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.http + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// post sends a control command to node p and returns the answer's status
// code and body.
func (p *fleetProc) post(t testing.TB, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+p.http+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+fleetToken)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// owners reads who owns each push, as node p sees it, once the ownership
// is where rendezvous hashing over the live nodes puts it (nil before: a
// move is under way).
func (p *fleetProc) owners() map[string]string {
	var f health.FleetStatus
	if p.get("/v1/fleet", &f) != nil || len(f.Unowned) > 0 {
		return nil
	}
	var nodes []string
	for _, n := range f.Nodes {
		nodes = append(nodes, n.Name)
	}
	out := map[string]string{}
	for _, o := range f.Owners {
		if o.Node != fleet.Owner(o.ID, nodes) {
			return nil
		}
		out[o.ID] = o.Node
	}
	return out
}

// live returns the emulator's live publisher of each name (sessions
// published, not ended, with video accepted).
func (r *fleetRig) live() map[string][]fmsim.SessionInfo {
	out := map[string][]fmsim.SessionInfo{}
	for _, s := range r.emu.Sessions() {
		if s.Published() && s.EndedAt.IsZero() && s.VideoFrames > 0 {
			out[s.StreamName] = append(out[s.StreamName], s)
		}
	}
	return out
}

// allLiveOnce reports whether every name has exactly one live publisher.
func (r *fleetRig) allLiveOnce() bool {
	live := r.live()
	for _, n := range r.names {
		if len(live[n]) != 1 {
			return false
		}
	}
	return true
}

// settled waits until every stream is live once and node p's view names
// an owner for each, every node of nodes owning some, and returns that view.
func (r *fleetRig) settled(p *fleetProc, within time.Duration, nodes ...string) map[string]string {
	r.t.Helper()
	var own map[string]string
	deadline := time.Now().Add(within)
	for {
		own = p.owners()
		if r.allLiveOnce() && len(own) == len(r.names) && ownSome(own, nodes) {
			return own
		}
		if time.Now().After(deadline) {
			r.dump(own)
			r.t.Fatalf("timed out after %s waiting for every stream live exactly once, each owned", within)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// dump logs the fleet's state: the owners, the live sessions, each node's log tail.
func (r *fleetRig) dump(own map[string]string) {
	r.t.Logf("owners: %v", own)
	for name, ss := range r.live() {
		r.t.Logf("live %s: %d sessions", name, len(ss))
	}
	for _, p := range r.nodes {
		l := p.logs.String()
		r.t.Logf("node %s log tail:\n%s", p.name, l[max(0, len(l)-4000):])
	}
}

// ownSome reports whether every node of nodes owns some push in own.
func ownSome(own map[string]string, nodes []string) bool {
	for _, n := range nodes {
		if len(ownedBy(own, n)) == 0 {
			return false
		}
	}
	return true
}

// ownedBy lists the pushes node owns in own.
func ownedBy(own map[string]string, node string) []string {
	var out []string
	for id, n := range own {
		if n == node {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// refusals counts the emulator's single_publisher refusals so far.
func (r *fleetRig) refusals() int {
	n := 0
	for _, s := range r.emu.Sessions() {
		if s.Verdict != nil && s.Verdict.Rule == "single_publisher" {
			n++
		}
	}
	return n
}

// overlaps names a stream that two sessions published at once, if any
// (the emulator's single_publisher refuses the second, so this checks
// the emulator as well as the fleet).
func (r *fleetRig) overlaps() string {
	by := map[string][]fmsim.SessionInfo{}
	for _, s := range r.emu.Sessions() {
		if s.Published() {
			by[s.StreamName] = append(by[s.StreamName], s)
		}
	}
	for name, ss := range by {
		sort.Slice(ss, func(i, j int) bool { return ss[i].PublishedAt.Before(ss[j].PublishedAt) })
		for i := 1; i < len(ss); i++ {
			if ss[i-1].EndedAt.IsZero() || ss[i].PublishedAt.Before(ss[i-1].EndedAt) {
				return fmt.Sprintf("%s: sessions %d and %d", name, ss[i-1].ID, ss[i].ID)
			}
		}
	}
	return ""
}

// regressions names a session whose timestamps went back within it, or a
// stream whose new session started below where its previous one ended.
func (r *fleetRig) regressions() (within, across []string) {
	for _, s := range r.emu.Sessions() {
		if s.VideoTSRegressions+s.AudioTSRegressions > 0 {
			within = append(within, fmt.Sprintf("session %d (%s)", s.ID, s.StreamName))
		}
	}
	for name, st := range r.emu.Streams() {
		if !st.Monotonic {
			across = append(across, name+": "+r.sessionsOf(st.Sessions))
		}
	}
	sort.Strings(across)
	return within, across
}

// sessionsOf describes sessions' timelines.
func (r *fleetRig) sessionsOf(ids []int) string {
	var out string
	for _, id := range ids {
		s, _ := r.emu.Session(id)
		out += fmt.Sprintf(" [%d %s..%s video %d..%d ms]", id, s.PublishedAt.Format("15:04:05.000"), s.EndedAt.Format("15:04:05.000"), s.FirstVideoTS, s.LastVideoTS)
	}
	return out
}

// movedWithin waits until every push in ids has a live session published
// after t0 and returns the latest such session's first frame after t0.
func (r *fleetRig) movedWithin(ids []string, t0 time.Time, within time.Duration) time.Duration {
	r.t.Helper()
	var worst time.Duration
	testpeer.Eventually(r.t, within, fmt.Sprintf("%v live again", ids), func() bool {
		live := r.live()
		worst = 0
		for _, id := range ids {
			if len(live[id]) != 1 || !live[id][0].PublishedAt.After(t0) || live[id][0].FirstFrameAt.IsZero() {
				return false
			}
			worst = max(worst, live[id][0].FirstFrameAt.Sub(t0))
		}
		return true
	})
	return worst
}

// Three nodes share twelve streams; kill -9 of one moves its streams
// within the lease TTL + 2 s; SIGTERM of another within 2 s without a
// refusal; a node cut from etcd stops publishing before its TTL ends and
// the others take its streams after; etcd down for the whole fleet stops
// every stream within the TTL (each node says why) and all resume when it
// is back. The emulator never sees two live publishers of a name, nor a
// timestamp step back (within a session, or from one session of a name to
// the next: a stream that moved continues its timeline).
func TestFleetMovesStreams(t *testing.T) {
	r := newFleetRig(t, 12, "a", "b", "c")
	own := r.settled(r.nodes["a"], 60*time.Second, "a", "b", "c")
	for _, n := range []string{"a", "b", "c"} {
		require.NotEmpty(t, ownedBy(own, n), "node %s owns nothing: %v", n, own)
	}
	// b's /v1/streams: its own pushes, and the others' elsewhere, with
	// their owners (b's view catches up with a's within a moment).
	testpeer.Eventually(t, 5*time.Second, "b's status naming every push's owner", func() bool {
		var st health.ServiceStatus
		if r.nodes["b"].get("/v1/streams", &st) != nil || len(st.Streams) != len(r.names) {
			return false
		}
		for _, s := range st.Streams {
			if s.Owner != own[s.ID()] || (s.Owner != "b") != (s.State == health.StateElsewhere) {
				return false
			}
		}
		return true
	})
	require.NotContains(t, r.nodes["a"].logs.String(), "fleetsecret", "etcd credentials in the log")
	// A command sent to a node that does not run the push names the one that does.
	elsewhere := ownedBy(own, "a")[0]
	code, body := r.nodes["b"].post(t, "/v1/streams/"+elsewhere+"/probe")
	require.Equal(t, http.StatusNotFound, code, body)
	require.Contains(t, body, `runs on fleet node \"a\", not on this node (\"b\")`)

	t.Run("kill -9", func(t *testing.T) {
		r.t = t
		moved := ownedBy(own, "a")
		t0 := time.Now()
		r.nodes["a"].kill()
		took := r.movedWithin(moved, t0, fleetTTL+2*time.Second)
		t.Logf("kill -9: %d streams live on the others %s after the kill (TTL %s)", len(moved), took.Round(time.Millisecond), fleetTTL)
		r.start("a")
		own = r.settled(r.nodes["b"], 30*time.Second, "a", "b", "c")
	})
	t.Run("SIGTERM", func(t *testing.T) {
		r.t = t
		before := r.refusals()
		moved := ownedBy(own, "b")
		require.NotEmpty(t, moved)
		t0 := time.Now()
		require.NoError(t, r.nodes["b"].cmd.Process.Signal(syscall.SIGTERM))
		took := r.movedWithin(moved, t0, 2*time.Second)
		require.NoError(t, <-r.nodes["b"].done, "b's exit:\n%s", r.nodes["b"].logs.String())
		r.nodes["b"].cmd = nil
		t.Logf("SIGTERM: %d streams live on the others %s after the signal", len(moved), took.Round(time.Millisecond))
		require.Equal(t, before, r.refusals(), "the emulator refused a publish during the hand-over")
		r.start("b")
		own = r.settled(r.nodes["a"], 30*time.Second, "a", "b", "c")
	})
	t.Run("partition", func(t *testing.T) {
		r.t = t
		moved := ownedBy(own, "c")
		require.NotEmpty(t, moved)
		t0 := time.Now()
		r.nodes["c"].proxy.Freeze()
		var stopped time.Duration
		testpeer.Eventually(t, fleetTTL, "c's streams stopped at the emulator", func() bool {
			live := r.live()
			for _, id := range moved {
				if len(live[id]) > 0 && live[id][0].PublishedAt.Before(t0) {
					return false
				}
			}
			stopped = time.Since(t0)
			return true
		})
		took := r.movedWithin(moved, t0, fleetTTL+3*time.Second)
		t.Logf("partition: c stopped publishing %s after the cut, its %d streams live elsewhere %s after (TTL %s)",
			stopped.Round(time.Millisecond), len(moved), took.Round(time.Millisecond), fleetTTL)
		require.Less(t, stopped, fleetTTL)
		var f health.FleetStatus
		require.NoError(t, r.nodes["c"].get("/v1/fleet", &f))
		require.Equal(t, "fenced", f.State, "c's fleet status: %+v", f)
		r.nodes["c"].proxy.Thaw()
		own = r.settled(r.nodes["a"], 30*time.Second, "a", "b", "c")
		require.NotEmpty(t, ownedBy(own, "c"), "c back with its share")
	})
	t.Run("etcd down", func(t *testing.T) {
		r.t = t
		t0 := time.Now()
		r.etcd.Stop()
		var stopped time.Duration
		testpeer.Eventually(t, fleetTTL, "every stream stopped", func() bool {
			stopped = time.Since(t0)
			return len(r.live()) == 0
		})
		for _, p := range r.nodes {
			var f health.FleetStatus
			require.NoError(t, p.get("/v1/fleet", &f))
			require.Equal(t, "fenced", f.State, "%s's fleet status: %+v", p.name, f)
			require.Contains(t, f.Reason, "no lease renewal", "%s's fleet status says why", p.name)
			var st health.ServiceStatus
			require.NoError(t, p.get("/v1/streams", &st))
			require.Len(t, st.Streams, len(r.names), "%s lists every push", p.name)
			require.Contains(t, st.Streams[0].Reason, "fenced", "%s's status of %s", p.name, st.Streams[0].ID())
		}
		t1 := time.Now()
		r.etcd.Start()
		own = r.settled(r.nodes["a"], 30*time.Second, "a", "b", "c")
		t.Logf("etcd down: every stream stopped %s after etcd went away (no split brain); all live again %s after it came back",
			stopped.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	})
	r.t = t
	require.Empty(t, r.overlaps(), "two live publishers of one name")
	within, across := r.regressions()
	require.Empty(t, within, "timestamps stepped back within a session")
	require.Empty(t, across, "a stream's new publisher started below where the previous one ended")
}
