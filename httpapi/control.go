package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Controller carries out the control API's requests on the running
// service. Command's target is "" for a single-target stream.
type Controller interface {
	// Command runs action ("switch", "pause", "resume", "probe") on a
	// stream's target and returns what it did.
	Command(ctx context.Context, stream, target, action string) (any, error)
	// Reload reloads the config file now and returns what changed.
	Reload(ctx context.Context) (any, error)
}

// Errors a Controller returns, mapped to HTTP statuses.
var (
	// ErrNotFound: no such stream, target or action (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request does not apply now (409).
	ErrConflict = errors.New("does not apply now")
)

// routeControl adds the control routes: every one a POST that needs the
// bearer token, refused from another site.
func (a *API) routeControl(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/streams/{name}/{action}", a.guard(func(w http.ResponseWriter, r *http.Request) {
		a.command(w, r, r.PathValue("name"), "", r.PathValue("action"))
	}))
	mux.HandleFunc("POST /v1/streams/{name}/targets/{target}/{action}", a.guard(func(w http.ResponseWriter, r *http.Request) {
		a.command(w, r, r.PathValue("name"), r.PathValue("target"), r.PathValue("action"))
	}))
	mux.HandleFunc("POST /v1/reload", a.guard(func(w http.ResponseWriter, r *http.Request) {
		res, err := a.Control.Reload(r.Context())
		answer(w, res, err)
	}))
}

func (a *API) command(w http.ResponseWriter, r *http.Request, stream, target, action string) {
	res, err := a.Control.Command(r.Context(), stream, target, action)
	answer(w, res, err)
}

// answer writes a controller's result, or its error with its status.
func answer(w http.ResponseWriter, res any, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
}

// guard refuses a state-changing request that comes from another site, or
// without the token (and every one when no token is configured: the API
// is then read-only).
func (a *API) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if crossSite(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site requests are refused"})
			return
		}
		token := ""
		if a.Token != nil {
			token = a.Token()
		}
		if token == "" || a.Control == nil {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the control API is read-only: set service { api_token_file } to enable it"})
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fmspush"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
			return
		}
		h(w, r)
	}
}

// crossSite reports whether a browser sent r from a page of another site:
// Sec-Fetch-Site says so, or Origin names a host other than the one the
// request was sent to.
func crossSite(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || !strings.EqualFold(u.Host, r.Host)
}
