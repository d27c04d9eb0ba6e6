package fleet

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// reconcile reads the fleet, gives up what this node should no longer own
// (stopped first), claims what it should own and nobody does, and runs what
// it holds.
func (s *session) reconcile(ctx context.Context) {
	if s.stale() {
		return
	}
	v, err := s.read(ctx)
	if err != nil {
		s.m.Logger.Debug("fleet: cannot read the fleet", "error", err)
		return
	}
	s.view = v
	s.m.notes.Store(&v.notes)
	wanted := map[string]bool{}
	for _, id := range s.m.wantedIDs() {
		wanted[id] = true
	}
	s.syncHeld(v)
	names := v.nodeNames()
	if _, ok := v.nodes[s.m.Name]; !ok {
		names = append(names, s.m.Name) // registered, the read raced it
	}
	var release []string
	for id := range s.held {
		if !wanted[id] || Owner(id, names) != s.m.Name {
			release = append(release, id)
		}
	}
	s.release(ctx, release)
	claimed := false
	for id := range wanted {
		if _, taken := v.owners[id]; !taken && Owner(id, names) == s.m.Name {
			claimed = s.claim(ctx, id) || claimed
		}
	}
	s.apply()
	if claimed {
		s.writeNotes(ctx) // at once: a crash in the first second leaves a note too
	}
	s.publish()
}

// syncHeld makes held match the owner keys with this node's lease.
func (s *session) syncHeld(v view) {
	for id := range s.held {
		if o, ok := v.owners[id]; !ok || o.lease != int64(s.lease) {
			s.m.Logger.Warn("fleet: an owner key of this node is gone", "id", id)
			delete(s.held, id)
		}
	}
	for id, o := range v.owners {
		if o.lease == int64(s.lease) {
			s.held[id] = o.record
		}
	}
}

// read reads every key of the prefix.
func (s *session) read(ctx context.Context) (view, error) {
	c, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(c, s.m.Prefix, clientv3.WithPrefix())
	if err != nil {
		return view{}, err
	}
	v := view{nodes: map[string]record{}, owners: map[string]owner{}, notes: map[string]string{}}
	for _, kv := range resp.Kvs {
		v.put(s.m.Prefix, string(kv.Key), kv.Value, kv.Lease)
	}
	return v, nil
}

// claim creates the owner key of id with this node's lease if it is absent,
// and reports whether it did.
func (s *session) claim(ctx context.Context, id string) bool {
	key := s.m.Prefix + ownersDir + id
	rec := record{Node: s.m.Name, Since: time.Now()}
	c, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(c).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, rec.encode(), clientv3.WithLease(s.lease))).
		Commit()
	switch {
	case err != nil:
		s.m.Logger.Debug("fleet: claim failed", "id", id, "error", err)
	case resp.Succeeded:
		s.held[id] = rec
		s.view.owners[id] = owner{record: rec, lease: int64(s.lease)}
		s.m.Logger.Info("fleet: claimed", "id", id)
		return true
	}
	return false
}

// release stops ids here, then deletes their owner keys (only while they
// are still this lease's), so the next owner starts after this one stopped.
func (s *session) release(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		delete(s.held, id)
	}
	s.apply()
	for _, id := range ids {
		key := s.m.Prefix + ownersDir + id
		c, cancel := s.opCtx(ctx)
		_, err := s.cli.Txn(c).
			If(clientv3.Compare(clientv3.LeaseValue(key), "=", s.lease)).
			Then(append(s.noteOps(id), clientv3.OpDelete(key))...).
			Commit()
		cancel()
		if err != nil {
			s.m.Logger.Warn("fleet: release failed; the key goes with the lease", "id", id, "error", err)
			continue
		}
		delete(s.view.owners, id)
		s.m.Logger.Info("fleet: released", "id", id)
	}
}

// noteOps is the write of id's note (none without a Note, or an empty one).
func (s *session) noteOps(id string) []clientv3.Op {
	if s.m.Note == nil {
		return nil
	}
	note := s.m.Note(id)
	if note == "" {
		return nil
	}
	return []clientv3.Op{clientv3.OpPut(s.m.Prefix+notesDir+id, note)}
}

// writeNotes writes the notes of the IDs this node holds, each only while
// its owner key is still this lease's.
func (s *session) writeNotes(ctx context.Context) {
	for id := range s.held {
		ops := s.noteOps(id)
		if len(ops) == 0 {
			continue
		}
		if s.stale() {
			return
		}
		c, cancel := s.opCtx(ctx)
		_, err := s.cli.Txn(c).
			If(clientv3.Compare(clientv3.LeaseValue(s.m.Prefix+ownersDir+id), "=", s.lease)).
			Then(ops...).
			Commit()
		cancel()
		if err != nil {
			s.m.Logger.Debug("fleet: note not written", "id", id, "error", err)
			return
		}
	}
}
