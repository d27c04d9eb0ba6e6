package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// No fleet block: no fleet; a fleet block decodes with its defaults.
func TestFleetBlock(t *testing.T) {
	cfg, err := Parse([]byte("service {}\n"), "f.hcl")
	require.NoError(t, err)
	require.Nil(t, cfg.Service.Fleet, "no fleet block")

	src := "service {\n  fleet {\n    etcd = [\"http://u:secret@10.0.0.1:2379\", \"https://etcd2:2379\"]\n    node = \"a1\"\n  }\n}\n"
	cfg, err = Parse([]byte(src), "f.hcl")
	require.NoError(t, err)
	want := &Fleet{Etcd: []string{"http://u:secret@10.0.0.1:2379", "https://etcd2:2379"}, Prefix: DefaultFleetPrefix,
		Node: "a1", LeaseTTL: DefaultFleetLeaseTTL}
	require.Equal(t, want, cfg.Service.Fleet)

	cfg, err = Parse([]byte("service {\n  fleet {\n    etcd = [\"http://127.0.0.1:2379\"]\n    prefix = \"/cams\"\n    lease_ttl = \"10s\"\n  }\n}\n"), "f.hcl")
	require.NoError(t, err)
	require.Equal(t, "/cams/", cfg.Service.Fleet.Prefix, "a prefix ends with /")
	require.Equal(t, 10*time.Second, cfg.Service.Fleet.LeaseTTL)
	require.NotEmpty(t, cfg.Service.Fleet.Node, "node defaults to the host name")
}

// Fleet errors name file:line:column and the field, and never quote a
// password of an etcd URL.
func TestFleetErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"service {\n  fleet {\n    node = \"a\"\n  }\n}\n", "f.hcl:2:3: service: fleet.etcd: missing"},
		{"service {\n  fleet {\n    etcd = []\n  }\n}\n", "f.hcl:3:12: service: fleet.etcd: must list"},
		{"service {\n  fleet {\n    etcd = [\"rtmp://u:hunter2@h:1\"]\n  }\n}\n", "f.hcl:3:12: service: fleet.etcd: "},
		{"service {\n  fleet {\n    etcd = [\"http://h:1\"]\n    node = \"a/b\"\n  }\n}\n", "f.hcl:4:12: service: fleet.node: "},
		{"service {\n  fleet {\n    etcd = [\"http://h:1\"]\n    prefix = \"x\"\n  }\n}\n", "f.hcl:4:14: service: fleet.prefix: "},
		{"service {\n  fleet {\n    etcd = [\"http://h:1\"]\n    lease_ttl = \"1s\"\n  }\n}\n", "f.hcl:4:17: service: fleet.lease_ttl: "},
	} {
		_, err := Parse([]byte(c.src), "f.hcl")
		require.Error(t, err, c.src)
		require.Contains(t, err.Error(), c.want, c.src)
		require.NotContains(t, err.Error(), "hunter2", c.src)
	}
}

// A changed fleet block is a changed service block.
func TestFleetDiff(t *testing.T) {
	a, err := Parse([]byte("service {\n  fleet {\n    etcd = [\"http://h:1\"]\n    node = \"a\"\n  }\n}\n"), "f.hcl")
	require.NoError(t, err)
	b, err := Parse([]byte("service {\n  fleet {\n    etcd = [\"http://h:1\"]\n    node = \"b\"\n  }\n}\n"), "f.hcl")
	require.NoError(t, err)
	require.False(t, Diff(a, a).ServiceChanged)
	require.True(t, Diff(a, b).ServiceChanged)
	require.True(t, Diff(nil, a).ServiceChanged)
}
