package config

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/fmspush/fmspush/redact"
)

// Fleet is the `service { fleet { } }` block: several fmspush nodes share the
// streams of one config through etcd (docs/deploy.md). nil when the block is
// absent: the node runs every stream itself.
type Fleet struct {
	// Etcd lists the etcd client URLs (http:// or https://, user:pass@ allowed:
	// redact before showing).
	Etcd []string
	// Prefix is the key prefix of this fleet's keys, ending in "/" (default
	// "/fmspush/").
	Prefix string
	// Node is this node's name in the fleet (default the host name): unique
	// among the nodes sharing Prefix.
	Node string
	// LeaseTTL is the etcd lease's time to live (default 5s): a node that
	// cannot renew it stops publishing within half of it, and its streams
	// move after it.
	LeaseTTL time.Duration
}

// Equal reports whether two fleet blocks (nil: none) are the same.
func (f *Fleet) Equal(o *Fleet) bool {
	if f == nil || o == nil {
		return f == o
	}
	return slices.Equal(f.Etcd, o.Etcd) && f.Prefix == o.Prefix && f.Node == o.Node && f.LeaseTTL == o.LeaseTTL
}

// The fleet block's defaults and limits.
const (
	DefaultFleetPrefix   = "/fmspush/"
	DefaultFleetLeaseTTL = 5 * time.Second
	MinFleetLeaseTTL     = 2 * time.Second
	MaxFleetLeaseTTL     = 5 * time.Minute
)

type rawFleet struct {
	Etcd     *hcl.Attribute `hcl:"etcd,attr"`
	Prefix   *hcl.Attribute `hcl:"prefix,attr"`
	Node     *hcl.Attribute `hcl:"node,attr"`
	LeaseTTL *hcl.Attribute `hcl:"lease_ttl,attr"`
	// DefRange is the block's header: a missing setting's position.
	DefRange hcl.Range `hcl:"-"`
}

// nodeName is what a node may be called: it becomes an etcd key's last part.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// decodeFleet decodes the fleet block (nil without one).
func decodeFleet(s scope, r *rawFleet) *Fleet {
	if r == nil {
		return nil
	}
	block := r.DefRange
	s = s.nested("fleet")
	return &Fleet{
		Etcd:     fleetEndpoints(s, r.Etcd, block),
		Prefix:   fleetPrefix(s, r.Prefix),
		Node:     fleetNode(s, r.Node, block),
		LeaseTTL: s.duration(r.LeaseTTL, DefaultFleetLeaseTTL, MinFleetLeaseTTL, MaxFleetLeaseTTL),
	}
}

// fleetEndpoints decodes etcd: at least one http(s) URL with a host; an
// error quotes a URL redacted only.
func fleetEndpoints(s scope, a *hcl.Attribute, block hcl.Range) []string {
	if a == nil {
		s.failAt(block, "etcd", "missing: a fleet needs the etcd client URLs, such as [\"http://127.0.0.1:2379\"]")
		return nil
	}
	urls := s.list(a)
	if len(urls) == 0 {
		s.fail(a, "must list at least one etcd client URL")
		return nil
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			s.fail(a, "%q is not an etcd client URL: want http://HOST:PORT or https://HOST:PORT", redact.URL(raw))
			return nil
		}
	}
	return urls
}

// fleetPrefix decodes prefix: it starts with "/" and ends with one (added).
func fleetPrefix(s scope, a *hcl.Attribute) string {
	p := s.str(a, DefaultFleetPrefix)
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n") {
		s.fail(a, "%q is not a key prefix: want an absolute one such as %q", p, DefaultFleetPrefix)
		return DefaultFleetPrefix
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// fleetNode decodes node, defaulting to the host name.
func fleetNode(s scope, a *hcl.Attribute, block hcl.Range) string {
	if a != nil {
		n := s.str(a, "")
		if !nodeName.MatchString(n) {
			s.fail(a, "%q is not a node name: 1-64 of [A-Za-z0-9_.-], starting alphanumeric", n)
		}
		return n
	}
	host, err := os.Hostname()
	if err == nil {
		host, _, _ = strings.Cut(host, ".")
	}
	if err != nil || !nodeName.MatchString(host) {
		s.failAt(block, "node", "missing, and the host name %q cannot name a node: set node = \"NAME\"", host)
		return ""
	}
	return host
}
