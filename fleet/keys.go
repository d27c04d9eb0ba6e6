package fleet

import (
	"encoding/json"
	"strings"
	"time"
)

// The fleet's keys under Member.Prefix:
//
//	PREFIX nodes/NAME  a live node, attached to its lease; value: record
//	PREFIX owners/ID   the node that owns the push ID, attached to that
//	                   node's lease, created only if absent; value: record
//	PREFIX notes/ID    the owner's note about the push (Member.Note), kept
//	                   for the next owner: no lease, written only while the
//	                   writer owns the ID
const (
	nodesDir  = "nodes/"
	ownersDir = "owners/"
	notesDir  = "notes/"
)

// record is the value of a node or owner key.
type record struct {
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
}

func (r record) encode() string {
	b, _ := json.Marshal(r) // a struct of a string and a time: never fails
	return string(b)
}

func decodeRecord(v []byte) record {
	var r record
	_ = json.Unmarshal(v, &r) // a foreign value gives a zero record
	return r
}

// view is the fleet as one read of the prefix found it.
type view struct {
	nodes  map[string]record // by node name
	owners map[string]owner  // by push ID
	notes  map[string]string // by push ID
}

// owner is one owner key.
type owner struct {
	record
	lease int64
}

// nodeNames lists the live nodes' names.
func (v view) nodeNames() []string {
	out := make([]string, 0, len(v.nodes))
	for n := range v.nodes {
		out = append(out, n)
	}
	return out
}

// put adds one key of the prefix to the view.
func (v view) put(prefix, key string, value []byte, lease int64) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return
	}
	if name, ok := strings.CutPrefix(rest, nodesDir); ok {
		r := decodeRecord(value)
		r.Node = name
		v.nodes[name] = r
	} else if id, ok := strings.CutPrefix(rest, ownersDir); ok {
		v.owners[id] = owner{record: decodeRecord(value), lease: lease}
	} else if id, ok := strings.CutPrefix(rest, notesDir); ok {
		v.notes[id] = string(value)
	}
}
