package main

import (
	"context"
	"encoding/json"
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
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// consoleConfig has two streams on the emulator: "a" publishes on native;
// the emulator resets "b"'s native sessions 100 ms after their first frame
// (an L5 fault, told apart by the native flashVer), so "b" fails over to
// ffmpeg and stays there (its failback would only fail the same way).
func consoleConfig() string {
	stream := func(name, failbackAfter string) string {
		return fmt.Sprintf(`stream %q {
  source = "builtin:sample"
  target = "emulator://live/%s"
  prefer = "native"
  native {
    flashver = "FMLE/3.0 (compatible; fmspush-native-%s)"
  }
  failover {
    probe_interval  = "300ms"
    failback_after  = %q
    backoff_initial = "100ms"
    backoff_max     = "1s"
    attempts_per_minute = 60
  }
}
`, name, name, name, failbackAfter)
	}
	return "service {\n  http_listen = \"%s\"\n  log_level = \"debug\"\n}\n" +
		"emulator {\n  listen = \"127.0.0.1:0\"\n  profile = \"companion\"\n  rules = {\n" +
		"    fault_flashver = \"fmspush-native-b\"\n    rst_after_first_frame = \"100ms\"\n  }\n}\n" +
		stream("a", "1s") + stream("b", "1h")
}

// pageErrors collects what the page did wrong: console errors, uncaught
// exceptions, and the browser's own error reports (a CSP violation, say)
// other than failed loads.
type pageErrors struct {
	mu   sync.Mutex
	errs []string
	net  []string // failed loads, logged only
}

func (p *pageErrors) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			p.errs = append(p.errs, "console."+string(ev.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		p.errs = append(p.errs, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, text))
	case *log.EventEntryAdded:
		e := ev.Entry
		switch {
		case e.Level != log.EntryLevelError:
		case e.Source == log.EntrySourceNetwork:
			p.net = append(p.net, e.Text+" "+e.URL)
		default:
			p.errs = append(p.errs, fmt.Sprintf("browser %s error: %s %s", e.Source, e.Text, e.URL))
		}
	}
}

func (p *pageErrors) get() (errs, net []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...), append([]string(nil), p.net...)
}

// screenshotDir is where the console's screenshot goes: the test's
// artifact directory with -artifacts, else a directory under the system's
// temporary directory that outlives the test (its path is logged).
func screenshotDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(os.TempDir(), "fmspush-console")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// The console's acceptance: headless Chromium loads / of a running service
// with one stream live on native and one failed over to ffmpeg after an
// emulator fault; the page shows both states, the L5 verdict and both
// thumbnails, with no JavaScript error (a few polls in, so that the
// screenshot has charts).
func TestConsoleInChromium(t *testing.T) {
	testpeer.Need(t, "ffmpeg", "chromium")
	browser, err := exec.LookPath("chromium")
	require.NoError(t, err)
	r := startService(t, consoleConfig())
	testpeer.Eventually(t, 45*time.Second, "a live on native and b live on ffmpeg after an L5 verdict", func() bool {
		st := r.streams()
		a, b := st["a"], st["b"]
		if a.State != health.StateLive || a.ActivePath != "native" || b.State != health.StateLive || b.ActivePath != "ffmpeg" {
			return false
		}
		for _, v := range b.LastVerdicts {
			if v.Layer == health.LayerMedia && v.Path == "native" {
				return true
			}
		}
		return false
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1100),
		// Nothing but the service on loopback: no background traffic.
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer func() {
		require.NoError(t, chromedp.Cancel(ctx)) // closes the browser and waits for it
		cancelBrowser()
	}()
	var perr pageErrors
	// Listen starts the browser, on a context with no timeout (a timeout on
	// the first call would stop the whole browser when it passes).
	require.NoError(t, chromedp.Listen(ctx, perr.listen))
	runCtx, cancelRun := context.WithTimeout(ctx, 90*time.Second)
	defer cancelRun()

	const shown = `(() => {
  const a = document.querySelector('.card[data-stream="a"]'), b = document.querySelector('.card[data-stream="b"]');
  if (!a || !b || +document.body.dataset.polls < 4) return false; // a few points in the charts
  const imgs = [...document.querySelectorAll('.card .thumb img')];
  return a.dataset.state === 'live' && a.dataset.activePath === 'native' &&
    b.dataset.state === 'live' && b.dataset.activePath === 'ffmpeg' &&
    [...b.querySelectorAll('.verdicts .vlayer')].some((e) => e.textContent === 'L5') &&
    imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
})()`
	const summary = `JSON.stringify([...document.querySelectorAll('.card')].map((c) => ({
  stream: c.dataset.stream, state: c.dataset.state, active: c.dataset.activePath,
  badge: c.querySelector('.badge').textContent, path: c.querySelector('.active-path').textContent,
  reason: c.querySelector('.reason').textContent,
  layers: [...c.querySelectorAll('.verdicts .vlayer')].map((e) => e.textContent),
  verdicts: [...c.querySelectorAll('.verdicts li')].map((e) => e.textContent),
  probeLayers: [...c.querySelectorAll('.layers .layer')].map((e) => e.textContent),
  picture: c.querySelector('.thumb img').naturalWidth,
})))`
	err = chromedp.Do(runCtx, chromedp.Navigate("http://"+r.http+"/"))
	if err == nil {
		_, err = chromedp.Run(runCtx, chromedp.Poll[bool](shown,
			chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
	}
	text, _ := chromedp.Run(runCtx, chromedp.Evaluate[string](summary))
	if png, serr := chromedp.Run(runCtx, chromedp.FullScreenshot(100)); serr == nil {
		shot := filepath.Join(screenshotDir(t), "console.png")
		require.NoError(t, os.WriteFile(shot, png, 0o644))
		t.Logf("screenshot of the console: %s", shot)
	} else {
		t.Logf("no screenshot: %v", serr)
	}
	errs, netErrs := perr.get()
	if len(netErrs) > 0 {
		t.Logf("failed loads (a picture not decoded yet): %v", netErrs)
	}
	require.NoError(t, err, "the page never showed both states, the L5 verdict and both pictures: %s", text)
	require.Empty(t, errs, "JavaScript errors on the page")

	var cards []struct {
		Stream, State, Active, Badge, Path, Reason string
		Layers, Verdicts, ProbeLayers              []string
		Picture                                    int
	}
	require.NoError(t, json.Unmarshal([]byte(text), &cards), text)
	require.Len(t, cards, 2, text)
	byName := map[string]int{}
	for i, c := range cards {
		byName[c.Stream] = i
	}
	a, b := cards[byName["a"]], cards[byName["b"]]
	require.Equal(t, "live", a.Badge, text)
	require.Equal(t, "on native", a.Path, text)
	require.Equal(t, "on ffmpeg", b.Path, text)
	require.Contains(t, b.Layers, "L5", text)
	require.Contains(t, strings.Join(b.Verdicts, "\n"), "after the first frame", text)
	require.Subset(t, b.ProbeLayers, []string{"L0", "L1", "L2"}, "the probe's layers: %s", text)
	require.Positive(t, a.Picture, text)
	require.Positive(t, b.Picture, text)
	t.Logf("console: %s", text)
}
