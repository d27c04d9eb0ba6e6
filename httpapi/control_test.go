package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a Controller that records what it was asked.
type recorder struct{ calls []string }

func (c *recorder) Command(_ context.Context, stream, target, action string) (any, error) {
	c.calls = append(c.calls, stream+"/"+target+"/"+action)
	if stream == "gone" {
		return nil, fmt.Errorf("%w: no stream", ErrNotFound)
	}
	return map[string]string{"did": action}, nil
}

func (c *recorder) Reload(context.Context) (any, error) {
	c.calls = append(c.calls, "reload")
	return map[string]bool{"reloaded": true}, nil
}

func post(t *testing.T, api *API, path string, header map[string]string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	api.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// The control API: read-only without a token, 401 without the right one,
// 403 from another site, the controller reached only past all of that.
func TestControlGuard(t *testing.T) {
	ctl := &recorder{}
	src := staticSource{}
	token := "0123456789abcdef-token"
	readOnly := &API{Source: src, Control: ctl}
	require.Equal(t, http.StatusForbidden, post(t, readOnly, "/v1/streams/cam/switch", map[string]string{"Authorization": "Bearer " + token}))
	api := &API{Source: src, Control: ctl, Token: func() string { return token }}
	bearer := map[string]string{"Authorization": "Bearer " + token}
	require.Equal(t, http.StatusUnauthorized, post(t, api, "/v1/streams/cam/switch", nil))
	require.Equal(t, http.StatusUnauthorized, post(t, api, "/v1/streams/cam/switch", map[string]string{"Authorization": "Bearer wrong"}))
	require.Equal(t, http.StatusForbidden, post(t, api, "/v1/streams/cam/switch",
		map[string]string{"Authorization": "Bearer " + token, "Origin": "https://evil.example"}))
	require.Equal(t, http.StatusForbidden, post(t, api, "/v1/reload",
		map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}))
	require.Empty(t, ctl.calls, "the controller was reached past the guard")

	require.Equal(t, http.StatusOK, post(t, api, "/v1/streams/cam/switch", bearer))
	require.Equal(t, http.StatusOK, post(t, api, "/v1/streams/cam/targets/yt/pause", bearer))
	require.Equal(t, http.StatusOK, post(t, api, "/v1/reload", map[string]string{"Authorization": "Bearer " + token, "Origin": "http://example.com"}))
	require.Equal(t, http.StatusNotFound, post(t, api, "/v1/streams/gone/switch", bearer))
	require.Equal(t, []string{"cam//switch", "cam/yt/pause", "reload", "gone//switch"}, ctl.calls)
}
