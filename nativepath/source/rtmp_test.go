package source

import (
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The RTMP pull: ffmpeg publishes the sample to a real nginx-rtmp, the RTMP
// source plays it back into units.
func TestRTMPPullFromNginx(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	n := testpeer.StartNginx(t)
	url := n.AppURL + "/cam"
	testpeer.PublishSample(t, url)

	rec := &recorder{}
	stop := runSource(&Retry{Source: &RTMP{URL: url}, Min: 200 * time.Millisecond}, rec)
	testpeer.Eventually(t, 30*time.Second, "two keyframes and audio over RTMP", func() bool {
		k, a := rec.count()
		return k >= 2 && a >= 50
	})
	require.NoError(t, stop())
	checkUnits(t, rec)
	decodesCleanly(t, rec, "h264", 640, 360, true)
}

// The stream name (last segment plus query) moves into the fragment, where
// gortmplib's client takes it; the app stays in the path.
func TestPlayURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"rtmp://h:1935/live/cam":         {"/live", "cam"},
		"rtmp://h/live/cam?token=x":      {"/live", "cam?token=x"},
		"rtmps://u:p@h/app/inst/key?a=b": {"/app/inst", "key?a=b"},
		"RTMP://h/live":                  {"/live", ""},
	} {
		u, err := playURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want[0], u.Path, "%s: path", in)
		assert.Equal(t, want[1], u.Fragment, "%s: fragment", in)
		assert.Equal(t, strings.ToLower(in[:strings.Index(in, ":")]), u.Scheme, "%s: scheme", in)
	}
}

// A stream nobody publishes: the error is redacted.
func TestRTMPDownRedacted(t *testing.T) {
	err := (&RTMP{URL: "rtmp://" + freeAddr(t) + "/live/secretkey?token=abc", ReadTimeout: 2 * time.Second}).
		Run(t.Context(), &recorder{})
	require.Error(t, err, "want a redacted error")
	require.NotContains(t, err.Error(), "secretkey", "want a redacted error")
	require.NotContains(t, err.Error(), "abc", "want a redacted error")
}
