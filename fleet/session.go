package fleet

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fmspush/fmspush/health"
)

// session is one lease's life, owned by Run's goroutine: join, renew,
// claim and release, until the lease is lost, ctx ends or Leave.
type session struct {
	m      *Member
	cli    *clientv3.Client
	lease  clientv3.LeaseID
	joined time.Time
	acked  time.Time         // when the last successful renewal was sent
	held   map[string]record // the owner keys this node holds, by push ID
	// applied is what Apply was last given (nil: nothing runs).
	applied []string
	fenced  bool
	state   string
	reason  string
	view    view
}

// session runs one lease; it returns ErrLeft after Leave, ctx's error, or
// why the lease was lost (then Run joins again).
func (m *Member) session(ctx context.Context, cli *clientv3.Client) error {
	s := &session{m: m, cli: cli, held: map[string]record{}, state: StateJoining}
	defer s.stopAll()
	if err := s.join(ctx); err != nil {
		s.state, s.reason = StateJoining, fmt.Sprintf("cannot join through etcd: %v", err)
		s.publish()
		return err
	}
	s.publish()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	acks, lost := make(chan time.Time, 1), make(chan error, 1)
	wg.Go(func() { s.renew(sctx, acks, lost) })
	return s.loop(sctx, acks, lost)
}

// loop is the session's select loop.
func (s *session) loop(ctx context.Context, acks <-chan time.Time, lost <-chan error) error {
	m := s.m
	fence := time.NewTimer(m.fenceAfter())
	defer fence.Stop()
	resync := time.NewTicker(time.Second)
	defer resync.Stop()
	watch := s.watch(ctx)
	s.reconcile(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case reply := <-m.leave:
			reply <- s.leave()
			return ErrLeft
		case err := <-lost:
			s.fence(fmt.Sprintf("lease lost: %v", err))
			return err
		case at := <-acks:
			s.acked = at
			fence.Reset(time.Until(at.Add(m.fenceAfter())))
			if s.fenced && time.Since(at) < m.fenceAfter() {
				s.unfence()
				s.reconcile(ctx)
			}
		case <-fence.C:
			if s.stale() {
				fence.Reset(m.renewEvery())
				continue
			}
			fence.Reset(time.Until(s.acked.Add(m.fenceAfter())))
		case wr, ok := <-watch:
			if !ok || wr.Err() != nil {
				watch = nil // watched again at the next resync
			}
			s.reconcile(ctx)
		case <-m.wake:
			s.reconcile(ctx)
		case <-resync.C:
			if watch == nil {
				watch = s.watch(ctx)
			}
			s.reconcile(ctx)
			if !s.fenced {
				s.writeNotes(ctx)
			}
		}
	}
}

// watch watches the whole prefix: any change makes the loop read it again.
func (s *session) watch(ctx context.Context) clientv3.WatchChan {
	return s.cli.Watch(ctx, s.m.Prefix, clientv3.WithPrefix())
}

// join grants the lease and registers the node with it.
func (s *session) join(ctx context.Context) error {
	m := s.m
	c, cancel := m.opCtx(ctx)
	defer cancel()
	sent := time.Now()
	g, err := s.cli.Grant(c, int64((m.LeaseTTL+time.Second-1)/time.Second))
	if err != nil {
		return fmt.Errorf("grant a lease: %w", err)
	}
	s.lease, s.acked, s.joined = g.ID, sent, time.Now()
	c2, cancel2 := m.opCtx(ctx)
	defer cancel2()
	rec := record{Node: m.Name, Since: s.joined}
	if _, err := s.cli.Put(c2, m.Prefix+nodesDir+m.Name, rec.encode(), clientv3.WithLease(s.lease)); err != nil {
		return fmt.Errorf("register node %s: %w", m.Name, err)
	}
	s.state, s.reason = StateMember, ""
	m.Logger.Info("fleet: joined", "node", m.Name, "lease_ttl", m.LeaseTTL)
	return nil
}

// renew renews the lease every renewEvery and reports when each successful
// renewal was sent, or that the lease is gone.
func (s *session) renew(ctx context.Context, acks chan time.Time, lost chan<- error) {
	t := time.NewTicker(s.m.renewEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		c, cancel := context.WithTimeout(ctx, s.m.fenceAfter())
		resp, err := s.cli.KeepAliveOnce(c, s.lease)
		cancel()
		switch {
		case err == nil && resp.TTL > 0:
			select { // keep only the latest
			case <-acks:
			default:
			}
			acks <- sent
		case err == nil || isLeaseGone(err):
			lost <- errLeaseLost
			return
		}
	}
}

// fence stops every push: the node may no longer hold its lease.
func (s *session) fence(reason string) {
	if !s.fenced {
		s.m.Logger.Warn("fleet: fenced: stopping every push", "reason", reason)
	}
	s.fenced, s.state, s.reason = true, StateFenced, reason
	s.stopAll()
	s.publish()
}

// stale fences the node when its last successful renewal is fenceAfter old
// or older, and reports whether it is fenced.
func (s *session) stale() bool {
	if d := time.Since(s.acked); !s.fenced && d >= s.m.fenceAfter() {
		s.fence(fmt.Sprintf("no lease renewal for %s (etcd unreachable?): stopped publishing before the lease can expire", d.Round(time.Millisecond)))
	}
	return s.fenced
}

// unfence: a renewal succeeded again while the lease lived: the keys are
// still this node's.
func (s *session) unfence() {
	s.m.Logger.Info("fleet: lease renewed again; resuming")
	s.fenced, s.state, s.reason = false, StateMember, ""
}

// stopAll applies the empty set if anything runs.
func (s *session) stopAll() {
	if len(s.applied) > 0 {
		s.m.Apply(nil)
		s.applied = nil
	}
}

// apply runs the held set, unless fenced (a last renewal too old fences
// first): when it returns, no push outside the held set runs.
func (s *session) apply() {
	if s.stale() {
		return
	}
	owned := make([]string, 0, len(s.held))
	for id := range s.held {
		owned = append(owned, id)
	}
	sort.Strings(owned)
	if slices.Equal(owned, s.applied) {
		return
	}
	s.m.Apply(owned)
	s.applied = owned
}

// leave revokes the lease after a planned stop.
func (s *session) leave() error {
	s.stopAll()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.writeNotes(c) // the pushes stopped: their last word for the next owners
	_, err := s.cli.Revoke(c, s.lease)
	s.held = map[string]record{}
	s.state, s.reason = StateLeft, "stopped: the streams were handed over"
	s.view = view{}
	s.publish()
	if err != nil {
		return fmt.Errorf("fleet: revoke the lease: %w", err)
	}
	s.m.Logger.Info("fleet: left; lease revoked")
	return nil
}

// publish stores the status snapshot.
func (s *session) publish() {
	m := s.m
	st := &health.FleetStatus{Node: m.Name, State: s.state, Reason: s.reason, LeaseTTL: m.LeaseTTL,
		LastKeepAlive: s.acked, Nodes: []health.FleetNode{}, Owners: []health.FleetOwner{}}
	for name, r := range s.view.nodes {
		st.Nodes = append(st.Nodes, health.FleetNode{Name: name, Since: r.Since})
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].Name < st.Nodes[j].Name })
	for id, o := range s.view.owners {
		st.Owners = append(st.Owners, health.FleetOwner{ID: id, Node: o.Node, Since: o.Since})
	}
	sort.Slice(st.Owners, func(i, j int) bool { return st.Owners[i].ID < st.Owners[j].ID })
	for _, id := range m.wantedIDs() {
		if _, ok := s.view.owners[id]; !ok {
			st.Unowned = append(st.Unowned, id)
		}
	}
	m.status.Store(st)
}

// opCtx is a context for one etcd request of the loop: opTimeout, and
// never past the fence's deadline, so that no request holds the loop when
// the node must fence.
func (s *session) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := min(s.m.opTimeout(), time.Until(s.acked.Add(s.m.fenceAfter())))
	return context.WithTimeout(ctx, d)
}
