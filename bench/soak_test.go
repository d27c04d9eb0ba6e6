package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// buildBinary builds cmd/fmspush into the test's temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fmspush")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-o", bin, "../cmd/fmspush")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// TestSoak runs the service for SOAK (default 2 minutes; make soak runs 10)
// with a fault every 30 s and checks that nothing grows, leaks or is lost.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped under -short")
	}
	testpeer.Need(t, "ffmpeg")
	d := 2 * time.Minute
	if v := os.Getenv("SOAK"); v != "" {
		var err error
		d, err = time.ParseDuration(v)
		require.NoError(t, err, "SOAK=%q", v)
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), d+3*time.Minute)
	defer cancel()
	rep, err := RunSoak(ctx, SoakOptions{Binary: bin, Dir: t.TempDir(), Duration: d, Logf: t.Logf})
	require.NoError(t, err)
	t.Logf("soak: %s, %d faults, %d sessions, %d video frames accepted, monotonic %v",
		rep.Duration.Round(time.Second), len(rep.Faults), len(rep.Stream.Sessions), rep.Stream.VideoFrames, rep.Stream.Monotonic)
	require.Empty(t, rep.Problems, "the soak's problems")
}
