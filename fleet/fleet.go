// Package fleet shares the stream targets (push IDs) of one config among
// several fmspush nodes through etcd, one publisher per target.
//
// Each node holds an etcd lease and registers under PREFIX nodes/NAME with
// it. Every push ID has one rightful owner among the live nodes, by
// rendezvous hashing (Owner); that node claims it by creating PREFIX
// owners/ID with its lease, only if absent (a transaction), and runs it only
// while it holds the key. A node gives up an ID it no longer should own
// (a node joined, the ID left the config) by stopping it first, then
// deleting the key; the new owner sees the delete and claims it.
//
// Fencing: the node renews its lease itself every TTL/5 and remembers when
// the last successful renewal was sent; when none succeeded for TTL/2, it
// stops every push (Apply with nothing) well before etcd can expire the lease
// (TTL after the last renewal it received), so another node can start only
// after this one stopped. When a renewal succeeds again before the lease
// expired, the node still holds its keys and resumes them; when the lease
// expired, it joins again with a new one and claims afresh.
//
// A planned stop (Leave) revokes the lease after the caller stopped the
// pushes: the owner keys go at once and the others start without waiting
// for the TTL.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/redact"
)

// The node's standings (health.FleetStatus.State).
const (
	StateJoining = "joining"
	StateMember  = "member"
	StateFenced  = "fenced"
	StateLeft    = "left"
)

// Member is this node in the fleet: its settings, and one run loop (Run)
// owning its lease, its claims and its view of the fleet.
type Member struct {
	// Endpoints are the etcd client URLs; a user:password in one is sent
	// as etcd credentials and never logged.
	Endpoints []string
	// Prefix is the fleet's key prefix, ending in "/".
	Prefix string
	// Name is this node's name, unique in the fleet.
	Name string
	// LeaseTTL is the lease's time to live (default 5s).
	LeaseTTL time.Duration
	// Apply is called by the run loop with the push IDs this node must run
	// now, sorted; it returns once the pushes not in the set have stopped
	// (they no longer publish). Required.
	Apply func(owned []string)
	// Note, when set, is the owner's note about a push it runs (the
	// service: where the push's timestamps are), written every second
	// and when the push is given up, after it stopped; the next owner reads
	// it with LastNote before it starts the push. "" writes nothing.
	Note func(id string) string
	// Logger (default: none).
	Logger hclog.Logger

	once   sync.Once
	mu     sync.Mutex
	wanted []string      // the configured push IDs (SetWanted)
	wake   chan struct{} // SetWanted's nudge to the loop, cap 1
	leave  chan chan error
	exited chan struct{} // closed when Run returns
	status atomic.Pointer[health.FleetStatus]
	notes  atomic.Pointer[map[string]string] // the last read's notes
}

// LastNote returns the note about push id as the loop last read it (""
// for none): Apply's callee reads it for the pushes it starts.
func (m *Member) LastNote(id string) string {
	if p := m.notes.Load(); p != nil {
		return (*p)[id]
	}
	return ""
}

func (m *Member) init() {
	m.once.Do(func() {
		m.wake = make(chan struct{}, 1)
		m.leave = make(chan chan error)
		m.exited = make(chan struct{})
		if m.LeaseTTL <= 0 {
			m.LeaseTTL = 5 * time.Second
		}
		if m.Logger == nil {
			m.Logger = hclog.NewNullLogger()
		}
		m.status.Store(&health.FleetStatus{Node: m.Name, State: StateJoining, LeaseTTL: m.LeaseTTL,
			Reason: "connecting to etcd", Nodes: []health.FleetNode{}, Owners: []health.FleetOwner{}})
	})
}

// SetWanted sets the push IDs the fleet shares (the config's, on every
// load); the loop claims and releases by it. Safe at any time, before Run
// too.
func (m *Member) SetWanted(ids []string) {
	m.init()
	m.mu.Lock()
	m.wanted = slices.Clone(ids)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Member) wantedIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wanted
}

// Status returns the node's last view of the fleet.
func (m *Member) Status() health.FleetStatus {
	m.init()
	return *m.status.Load()
}

// fenceAfter is how long without a successful renewal the node publishes:
// half the TTL, so that its pushes stop with half the TTL to spare before
// etcd can expire the lease and another node start.
func (m *Member) fenceAfter() time.Duration { return m.LeaseTTL / 2 }

// renewEvery is the renewal period: five renewals a TTL, two or three
// within the fence's window.
func (m *Member) renewEvery() time.Duration { return m.LeaseTTL / 5 }

// opTimeout bounds each etcd request, so that an unreachable etcd never
// holds the loop past a renewal.
func (m *Member) opTimeout() time.Duration { return m.LeaseTTL / 5 }

// ErrLeft is Run's result after Leave.
var ErrLeft = errors.New("fleet: left")

// Run keeps the node in the fleet until ctx ends (the lease is then left to
// expire) or Leave is called (the lease is revoked). Call it once.
func (m *Member) Run(ctx context.Context) error {
	m.init()
	defer close(m.exited)
	cli, err := m.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		err := m.session(ctx, cli)
		if errors.Is(err, ErrLeft) || ctx.Err() != nil {
			return err
		}
		m.Logger.Warn("fleet: lease lost; joining again", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case reply := <-m.leave: // nothing held: nothing to hand over
			reply <- nil
			return ErrLeft
		case <-time.After(m.renewEvery()):
		}
	}
}

// client connects to etcd; credentials in the URLs become etcd's user and
// password.
func (m *Member) client() (*clientv3.Client, error) {
	// gRPC's reconnect backoff grows to 2 minutes by default: capped at a
	// second, a node reconnects within a second of etcd's return.
	reconnect := grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: time.Second,
		Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}})
	cfg := clientv3.Config{DialTimeout: 2 * time.Second, Logger: zap.NewNop(), DialOptions: []grpc.DialOption{reconnect},
		DialKeepAliveTime: m.LeaseTTL / 2, DialKeepAliveTimeout: m.LeaseTTL / 5}
	for _, raw := range m.Endpoints {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("fleet: etcd URL %s: %w", redact.URL(raw), err)
		}
		if u.User != nil {
			cfg.Username = u.User.Username()
			cfg.Password, _ = u.User.Password()
			u.User = nil
		}
		cfg.Endpoints = append(cfg.Endpoints, u.String())
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("fleet: etcd client for %s: %w", redact.URLs(m.Endpoints), err)
	}
	return cli, nil
}

// Leave ends a planned stop: the caller has stopped every push; the lease
// is revoked (with it the owner keys) so that the others take the streams
// at once, and Run returns ErrLeft. It waits at most ctx.
func (m *Member) Leave(ctx context.Context) error {
	m.init()
	reply := make(chan error, 1)
	select {
	case m.leave <- reply:
	case <-m.exited: // Run is over: nothing held
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fleet: leave: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("fleet: leave: %w", ctx.Err())
	}
}

// opCtx is a context for one etcd request.
func (m *Member) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.opTimeout())
}

// errLeaseLost: etcd no longer knows the lease (it expired).
var errLeaseLost = errors.New("the lease expired")

// isLeaseGone reports whether a renewal's error says the lease is gone.
func isLeaseGone(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound) || errors.Is(err, rpctypes.ErrGRPCLeaseNotFound)
}

// sorted returns the keys of set, sorted.
func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
