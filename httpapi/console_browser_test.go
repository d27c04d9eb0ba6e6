package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// hostile is markup in every string the page shows: it must come out as
// text, never as elements.
const hostile = `<img src=x id=injected><b class=injected>bold</b><script>window.pwned=1</script>`

func hostileStatus() health.ServiceStatus {
	now := time.Now()
	v := &health.Verdict{Layer: health.LayerMedia, Cause: "reset_after_first_frame" + hostile, Detail: hostile,
		ServerWords: hostile, Path: "native", SinceDial: 1500 * time.Millisecond, SincePublish: 1200 * time.Millisecond,
		SinceFirstFrame: 112 * time.Millisecond, TimeToRST: 112 * time.Millisecond, At: now.Add(-8 * time.Second)}
	return health.ServiceStatus{Version: hostile, Config: health.ConfigStatus{LastError: hostile, ErrorAt: now},
		Streams: []health.StreamStatus{{
			Name: "cam" + hostile, TargetName: "t" + hostile, Enabled: true, State: health.StateDegraded, Reason: hostile,
			Source: hostile, Target: hostile, Preferred: "native", SourceStatus: hostile, LastError: hostile,
			Paths: []health.PathStatus{
				{Kind: "native", Circuit: "open", Backoff: 8 * time.Second, NextAttempt: now.Add(57 * time.Second),
					CheckError: hostile, LastVerdict: v, Failures: 3,
					LastProbe: &health.ProbeSummary{At: now, Depth: health.LayerMedia, Duration: 40 * time.Millisecond,
						Layers: []health.LayerSummary{{Layer: health.LayerNetwork, OK: true, Note: hostile}, {Layer: health.LayerHandshake}}, Verdict: v}},
				{Kind: "ffmpeg", Circuit: "half_open"},
			},
			Delivery:     &health.Delivery{LagMillis: 250, ThroughputBps: 2_000_000, NeededBps: 2_500_000},
			Failovers:    []health.Failover{{From: "native", To: "ffmpeg", Layer: health.LayerMedia, Count: 2}},
			LastVerdicts: []health.Verdict{*v},
		}}}
}

// freshSource makes its status anew at each snapshot (times relative to now).
type freshSource func() health.ServiceStatus

func (f freshSource) Snapshot() health.ServiceStatus { return f() }

// The page renders every server string as text and durations as people
// read them, with no JavaScript error, under its CSP.
func TestConsoleEscapesAndReadsInChromium(t *testing.T) {
	srv := httptest.NewServer((&API{Source: freshSource(hostileStatus)}).Handler())
	defer srv.Close()
	browser := testpeer.StartChromium(t)
	ctx, cancel := context.WithTimeout(browser.Ctx, 60*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")))
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`+document.body.dataset.polls >= 2`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err)
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`!!(window.pwned || document.getElementById('injected') || document.querySelector('.injected') || document.querySelectorAll('script').length !== 1)`))
	require.NoError(t, err)
	require.False(t, injected, "server text became markup")
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	require.NoError(t, err)
	require.Contains(t, text, hostile, "the server's text is shown as it is")
	for _, want := range []string{"degraded", "8 s", "reset 112 ms after the first frame",
		"1.5 s after dial", "native → ffmpeg at L5 ×2", "2.00 Mbit/s / 2.50 Mbit/s", "250 ms", "open", "half-open"} {
		require.Contains(t, text, want)
	}
	require.Regexp(t, `next attempt in 5\d s`, text)
	require.Regexp(t, `at \d{1,2}:\d\d:\d\d.*\(\d+ s ago\)`, text, "local clock times")
	browser.Screenshot(ctx, t, "console-hostile.png")
	require.Empty(t, browser.Errors(), "JavaScript errors on the page")
}
