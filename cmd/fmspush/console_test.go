package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

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

// The console's acceptance: headless Chromium loads / of a running service
// with one stream live on native and one failed over to ffmpeg after an
// emulator fault; the page shows both states, the L5 verdict and both
// thumbnails, with no JavaScript error (a few polls in, so that the
// screenshot has charts).
func TestConsoleInChromium(t *testing.T) {
	testpeer.Need(t, "ffmpeg", "chromium")
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

	browser := testpeer.StartChromium(t)
	runCtx, cancelRun := context.WithTimeout(browser.Ctx, 90*time.Second)
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
	err := chromedp.Do(runCtx, chromedp.Navigate("http://"+r.http+"/"))
	if err == nil {
		_, err = chromedp.Run(runCtx, chromedp.Poll[bool](shown,
			chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
	}
	text, _ := chromedp.Run(runCtx, chromedp.Evaluate[string](summary))
	browser.Screenshot(runCtx, t, "console.png")
	if loads := browser.FailedLoads(); len(loads) > 0 {
		t.Logf("failed loads (a picture not decoded yet): %v", loads)
	}
	require.NoError(t, err, "the page never showed both states, the L5 verdict and both pictures: %s", text)
	require.Empty(t, browser.Errors(), "JavaScript errors on the page")

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
