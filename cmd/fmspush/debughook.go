package main

// An opt-in debug listener for benchmarks and the soak test (bench/):
// with FMSPUSH_DEBUG_LISTEN=127.0.0.1:PORT in the environment, fmspush
// serves net/http/pprof there (goroutine counts, CPU and heap profiles,
// execution traces).
// Off unless the variable is set; loopback addresses only.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("FMSPUSH_DEBUG_LISTEN")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "fmspush: FMSPUSH_DEBUG_LISTEN=%q ignored: want a loopback HOST:PORT\n", addr)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fmspush: debug listener: %v\n", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { _ = http.Serve(ln, mux) }()
}
