package testpeer

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser is a headless Chromium (Debian's chromium package) driven by
// chromedp for one test, with what its pages did wrong collected.
type Browser struct {
	// Ctx is the browser's chromedp context: derive a context with a
	// timeout from it for the actions.
	Ctx context.Context

	mu   sync.Mutex
	errs []string
	net  []string
}

// StartChromium starts a headless Chromium for t (no sandbox: the tests
// run as root) and closes it, waiting for it, when t ends, so that none
// of chromedp's goroutines outlives the test.
func StartChromium(t testing.TB) *Browser {
	t.Helper()
	Need(t, "chromium")
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1100),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	b := &Browser{Ctx: ctx}
	t.Cleanup(func() {
		closeCtx, cancelClose := context.WithTimeout(ctx, 20*time.Second)
		defer cancelClose()
		_ = chromedp.Cancel(closeCtx) // closes the browser and waits for it
		cancel()
		cancelAlloc()
	})
	// Listen starts the browser, on a context with no timeout (a timeout on
	// the first call would stop the whole browser when it passes).
	if err := chromedp.Listen(ctx, b.listen); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// listen keeps the page's errors: console errors, uncaught exceptions, and
// the browser's own error reports (a CSP violation, say); failed loads
// apart.
func (b *Browser) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.errs = append(b.errs, "console."+string(ev.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		b.errs = append(b.errs, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, text))
	case *log.EventEntryAdded:
		e := ev.Entry
		switch {
		case e.Level != log.EntryLevelError:
		case e.Source == log.EntrySourceNetwork:
			b.net = append(b.net, e.Text+" "+e.URL)
		default:
			b.errs = append(b.errs, fmt.Sprintf("browser %s error: %s %s", e.Source, e.Text, e.URL))
		}
	}
}

// Errors returns the JavaScript and browser errors so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// FailedLoads returns the loads that failed so far (a 404 among them).
func (b *Browser) FailedLoads() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.net...)
}

// Screenshot saves a screenshot of the whole page as name (a PNG) for
// people to look at: in the test's artifact directory with -artifacts,
// else in fmspush-console under the system's temporary directory (t's own
// temporary directories are removed). It logs where.
func (b *Browser) Screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	dir := filepath.Join(os.TempDir(), "fmspush-console")
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
}
