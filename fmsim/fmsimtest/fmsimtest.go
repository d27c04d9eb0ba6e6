// Package fmsimtest starts the FMS emulator (package fmsim) for tests, as
// net/http/httptest starts HTTP servers. It lives apart from
// internal/testpeer because the packages fmsim itself depends on (rtmp,
// media) use testpeer in their tests: testpeer importing fmsim would close
// a cycle.
package fmsimtest

import (
	"testing"

	"github.com/fmspush/fmspush/fmsim"
)

// StartEmulator starts srv, the strict FMS emulator (fmsim), for a test and
// closes it by t.Cleanup. srv's fields are fmsim.Server's: Profile and
// Rules choose what it enforces, MaxSegment its TCP segment size (1448 makes
// its TCP behave as a real ingest's does over Ethernet). An empty Listen
// becomes "127.0.0.1:0", a free loopback port; srv.URL names it. It fails the
// test when the server does not start (a bad profile or rule). For example:
//
//	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud, Rules: []string{"single_publisher"}})
func StartEmulator(t testing.TB, srv *fmsim.Server) *fmsim.Server {
	t.Helper()
	if srv.Listen == "" {
		srv.Listen = "127.0.0.1:0"
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start the FMS emulator (profile %q, rules %q): %v", srv.Profile, srv.Rules, err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
