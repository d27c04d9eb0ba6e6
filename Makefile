# fmspush: the two commands are `make demo` and `make test`.
GO       ?= go
BIN      := bin/fmspush
PKGS     := ./...
export FMSPUSH_REQUIRE_PEERS := 1

.PHONY: demo test build deps deps-demo vet fuzz bench soak clean install uninstall

demo: deps-demo build
	@echo "fmspush: the console at http://127.0.0.1:8765/  status at /v1/streams  health at /healthz  metrics at /metrics"
	./$(BIN) run -config config.hcl

build:
	$(GO) build -o $(BIN) ./cmd/fmspush

# make install [DESTDIR=...] [PREFIX=/usr/local]: the binary, the systemd unit
# (Type=notify, hardened), the fmspush system user and /etc/fmspush/config.hcl
# (written only when absent). docs/deploy.md.
PREFIX      ?= /usr/local
SYSCONFDIR  ?= /etc
UNITDIR     ?= /etc/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALL_ENV  = BIN="$(BIN)" DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" UNITDIR="$(UNITDIR)" SYSUSERSDIR="$(SYSUSERSDIR)"

install: build
	@$(INSTALL_ENV) scripts/install.sh install

uninstall:
	@$(INSTALL_ENV) scripts/install.sh uninstall

deps:
	@GO=$(GO) scripts/deps.sh test

deps-demo:
	@scripts/deps.sh demo

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) vet -tags libav ./ffmpegpath/... ./cmd/...

# Every test with -race; the interop package (real servers, 60 s scenarios,
# timing bounds) alone after the others, so that the two do not starve each
# other on a two-core machine; then the libav driver (build tag libav, cgo
# against Debian's FFmpeg 5.1 libraries) and the binary built with it.
test: deps vet
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v '/interop$$')
	$(GO) test -race -count=1 -timeout 10m ./interop
	$(GO) test -race -count=1 -timeout 10m -tags libav -run Libav ./ffmpegpath/...
	$(GO) build -tags libav -o /dev/null ./cmd/fmspush

fuzz:
	@scripts/fuzz.sh 20s

# make bench: every figure of docs/performance.md in one run (about 25 minutes);
# make bench BENCH_QUICK=1: the side-by-side figure at 1, 4, 16 streams only (about 3 minutes).
bench: deps build
	@rm -f bin/fmspush-libav; $(GO) build -tags libav -o bin/fmspush-libav ./cmd/fmspush || echo "bench: no libav build: the libav driver is not measured"
	$(GO) run ./bench/cmd/benchtable -bin $(BIN) $$(test -x bin/fmspush-libav && echo -libav-bin bin/fmspush-libav) $(if $(BENCH_QUICK),-quick) -out bench/results/latest.json
	$(if $(BENCH_QUICK),@echo "bench: BENCH_QUICK: the packages' Go benchmarks are skipped",$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m $(PKGS))
	$(if $(BENCH_QUICK),,$(GO) test -run '^$$' -bench . -skip '^BenchmarkStallDetection$$' -benchtime 1x -timeout 20m -tags libav ./ffmpegpath/...)

# make soak [SOAK=10m]: the service under a fault every 30 s, then checks for leaks and losses.
SOAK ?= 10m
soak: deps
	SOAK=$(SOAK) $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 3h ./bench

clean:
	rm -rf bin
