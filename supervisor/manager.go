package supervisor

import (
	"context"
	"sort"
	"sync"

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
// settings changed are restarted, added or removed.
type Manager struct {
	Logger hclog.Logger

	mu      sync.Mutex
	running map[string]*managed
}

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
func (m *Manager) Apply(ctx context.Context, specs []Spec) Changes {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == nil {
		m.running = make(map[string]*managed)
	}
	var ch Changes
	want := make(map[string]bool, len(specs))
	for _, sp := range specs {
		want[sp.Name] = true
		cur, ok := m.running[sp.Name]
		switch {
		case !ok:
			ch.Added = append(ch.Added, sp.Name)
		case cur.fingerprint != sp.Fingerprint:
			ch.Changed = append(ch.Changed, sp.Name)
			cur.stop()
		default:
			ch.Unchanged = append(ch.Unchanged, sp.Name)
			continue
		}
		m.running[sp.Name] = m.launch(ctx, sp)
	}
	for name, cur := range m.running {
		if !want[name] {
			ch.Removed = append(ch.Removed, name)
			cur.stop()
			delete(m.running, name)
		}
	}
	sort.Strings(ch.Removed)
	return ch
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

func (mg *managed) stop() {
	mg.cancel()
	<-mg.done
}

// Streams returns every running stream's status, sorted by name.
func (m *Manager) Streams() []health.StreamStatus {
	m.mu.Lock()
	list := make([]*Stream, 0, len(m.running))
	for _, mg := range m.running {
		list = append(list, mg.stream)
	}
	m.mu.Unlock()
	out := make([]health.StreamStatus, 0, len(list))
	for _, st := range list {
		out = append(out, st.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops every stream and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var wg sync.WaitGroup
	for name, mg := range m.running {
		wg.Add(1)
		go func() { defer wg.Done(); mg.stop() }()
		delete(m.running, name)
	}
	wg.Wait()
}
