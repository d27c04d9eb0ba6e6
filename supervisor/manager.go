package supervisor

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/health"
)

// Spec describes one configured stream to the Manager.
type Spec struct {
	Name string
	// Fingerprint changes whenever any setting of the stream changes; a
	// stream whose fingerprint is unchanged is not touched by Apply.
	Fingerprint string
	// Build makes the stream's supervisor; called only when the stream is
	// added or changed.
	Build func() *Stream
}

// Manager runs every stream and applies config changes: only streams whose
// settings changed are restarted, added or removed. Status reads never wait
// for a change being applied: Streams reads a snapshot of the stream set.
type Manager struct {
	Logger hclog.Logger

	mu      sync.Mutex // serialises Apply and Close; guards running
	running map[string]*managed
	view    atomic.Pointer[[]*Stream] // what Streams reads

	endMu sync.Mutex
	ended map[string]Timeline // the timelines of the streams stopped, by ID
}

// endedKeep is how long the timeline of a stopped stream is kept for a
// later owner to continue (the fleet's note): longer than any outage after
// which a platform still holds the old session, and short enough that
// streams renamed or moved away over months are not all remembered.
const endedKeep = 24 * time.Hour

type managed struct {
	fingerprint string
	stream      *Stream
	cancel      context.CancelFunc
	done        chan struct{}
}

// Changes lists what Apply did.
type Changes struct {
	Added, Changed, Removed, Unchanged []string
}

// Apply makes the running streams match specs. ctx bounds the streams' lives.
// The streams that changed or went away are stopped together (each
// unpublishes, which may take seconds), then the changed and new ones start:
// a changed stream's new session never overlaps its old one on the key.
func (m *Manager) Apply(ctx context.Context, specs []Spec) Changes {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == nil {
		m.running = make(map[string]*managed)
	}
	var ch Changes
	var stop []*managed
	var start []Spec
	want := make(map[string]bool, len(specs))
	for _, sp := range specs {
		want[sp.Name] = true
		cur, ok := m.running[sp.Name]
		switch {
		case !ok:
			ch.Added = append(ch.Added, sp.Name)
		case cur.fingerprint != sp.Fingerprint:
			ch.Changed = append(ch.Changed, sp.Name)
			stop = append(stop, cur)
		default:
			ch.Unchanged = append(ch.Unchanged, sp.Name)
			continue
		}
		start = append(start, sp)
	}
	for name, cur := range m.running {
		if !want[name] {
			ch.Removed = append(ch.Removed, name)
			stop = append(stop, cur)
			delete(m.running, name)
		}
	}
	m.stopAll(stop)
	for _, sp := range start {
		m.running[sp.Name] = m.launch(ctx, sp)
	}
	m.publishView()
	sort.Strings(ch.Removed)
	return ch
}

// stopAll cancels every stream first, then waits for each: N unpublishes
// take as long as the slowest, not their sum. It keeps their timelines.
func (m *Manager) stopAll(ms []*managed) {
	for _, mg := range ms {
		mg.cancel()
	}
	for _, mg := range ms {
		<-mg.done
	}
	m.endMu.Lock()
	defer m.endMu.Unlock()
	if m.ended == nil {
		m.ended = map[string]Timeline{}
	}
	for _, mg := range ms {
		m.ended[mg.stream.ID()] = mg.stream.Timeline()
	}
	now := time.Now()
	for id, tl := range m.ended {
		if now.Sub(tl.At) > endedKeep {
			delete(m.ended, id)
		}
	}
}

// publishView stores the running set for Streams; m.mu held.
func (m *Manager) publishView() {
	list := make([]*Stream, 0, len(m.running))
	for _, mg := range m.running {
		list = append(list, mg.stream)
	}
	m.view.Store(&list)
}

func (m *Manager) launch(ctx context.Context, sp Spec) *managed {
	st := sp.Build()
	if st.Logger == nil && m.Logger != nil {
		st.Logger = m.Logger.Named("stream").With("stream", sp.Name)
	}
	sctx, cancel := context.WithCancel(ctx)
	mg := &managed{fingerprint: sp.Fingerprint, stream: st, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(mg.done)
		_ = st.Run(sctx)
	}()
	return mg
}

// Streams returns every running stream's status, sorted by name and target, without
// waiting for an Apply in progress (streams being stopped still show).
func (m *Manager) Streams() []health.StreamStatus {
	var list []*Stream
	if v := m.view.Load(); v != nil {
		list = *v
	}
	out := make([]health.StreamStatus, 0, len(list))
	for _, st := range list {
		out = append(out, st.Status())
	}
	health.SortStreams(out)
	return out
}

// Close stops every stream and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := make([]*managed, 0, len(m.running))
	for name, mg := range m.running {
		all = append(all, mg)
		delete(m.running, name)
	}
	m.stopAll(all)
	m.publishView()
}

// Timeline returns the timeline of the stream whose ID is id: running, or
// the last one stopped (false: neither).
func (m *Manager) Timeline(id string) (Timeline, bool) {
	if v := m.view.Load(); v != nil {
		for _, st := range *v {
			if st.ID() == id {
				return st.Timeline(), true
			}
		}
	}
	m.endMu.Lock()
	defer m.endMu.Unlock()
	tl, ok := m.ended[id]
	return tl, ok
}

// ErrNoStream: no running stream has the ID a command names.
var ErrNoStream = errors.New("no such stream")

// Do hands cmd to the stream whose ID ("name", or "name/target") is id
// and returns what it did; it never waits for an Apply in progress.
func (m *Manager) Do(ctx context.Context, id string, cmd Command) (Reply, error) {
	if v := m.view.Load(); v != nil {
		for _, st := range *v {
			if st.ID() == id {
				return st.Do(ctx, cmd)
			}
		}
	}
	return Reply{}, ErrNoStream
}

// ID names the stream's push: Name, or "Name/TargetName" (health.PushID).
func (s *Stream) ID() string { return health.PushID(s.Name, s.TargetName) }
