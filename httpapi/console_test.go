package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// The page, its script and its style are served from the binary under a
// strict CSP: no inline script, no inline event handler, nothing from
// another origin.
func TestConsolePageAndAssets(t *testing.T) {
	h := (&API{Source: staticSource{}}).Handler()
	page := get(t, h, "/")
	require.Equal(t, http.StatusOK, page.Code)
	require.Contains(t, page.Header().Get("Content-Type"), "text/html")
	csp := page.Header().Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'self'")
	require.NotContains(t, csp, "unsafe-inline")
	require.NotContains(t, csp, "unsafe-eval")
	body := page.Body.String()
	require.Regexp(t, `<script src="/console/console.js" defer></script>`, body)
	require.NotRegexp(t, `<script>|<script [^>]*>[^<]|\son[a-z]+=|style=|https?://`, body, "inline script, handlers, styles or a foreign URL in the page")
	for _, asset := range []struct{ path, ctype string }{
		{"/console/console.js", "javascript"}, {"/console/console.css", "text/css"}, {"/console/favicon.svg", "image/svg+xml"},
	} {
		rec := get(t, h, asset.path)
		require.Equal(t, http.StatusOK, rec.Code, asset.path)
		require.Contains(t, rec.Header().Get("Content-Type"), asset.ctype, asset.path)
		require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		// (SVG's namespace is a name, never fetched.)
		text := strings.ReplaceAll(rec.Body.String(), `xmlns="http://www.w3.org/2000/svg"`, "")
		require.NotRegexp(t, `https?://`, text, "%s names another origin", asset.path)
	}
	js := get(t, h, "/console/console.js").Body.String()
	require.NotRegexp(t, regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(`), js, "the script must render server text as text")
	require.Equal(t, http.StatusNotFound, get(t, h, "/console/nothing.js").Code)
	require.Equal(t, http.StatusNotFound, get(t, h, "/elsewhere").Code)
}

type fakeThumbs map[string][]byte

func (f fakeThumbs) Thumbnail(_ context.Context, stream string) ([]byte, error) {
	if b, ok := f[stream]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%w: no session of %s", ErrNoPicture, stream)
}

func TestThumbnail(t *testing.T) {
	src := staticSource{Streams: []health.StreamStatus{{Name: "cam"}}}
	jpeg := []byte("\xff\xd8\xff\xe0 a picture")
	h := (&API{Source: src, Thumbnails: fakeThumbs{"cam": jpeg}}).Handler()
	rec := get(t, h, "/v1/streams/cam/thumbnail.jpg")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "image/jpeg", rec.Header().Get("Content-Type"))
	require.Equal(t, jpeg, rec.Body.Bytes())
	rec = get(t, h, "/v1/streams/other/thumbnail.jpg")
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.True(t, strings.Contains(rec.Body.String(), "no picture"), rec.Body.String())
	// Without a Thumbnailer (no pictures at all) the page still works.
	h = (&API{Source: src}).Handler()
	require.Equal(t, http.StatusNotFound, get(t, h, "/v1/streams/cam/thumbnail.jpg").Code)
	require.Equal(t, http.StatusOK, get(t, h, "/").Code)
}
