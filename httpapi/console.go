package httpapi

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
)

// console holds the operator's console: a page, its script and its style,
// plain files with no build step, served as they are.
//
//go:embed console
var console embed.FS

// ConsoleCSP is the console's Content-Security-Policy: everything from the
// service itself, no inline script or style, no framing, no form posts.
const ConsoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Thumbnailer gives the latest picture of a stream (by its name) as a JPEG,
// or an error wrapping ErrNoPicture when there is none.
type Thumbnailer interface {
	Thumbnail(ctx context.Context, stream string) ([]byte, error)
}

// ErrNoPicture: a stream has no picture now (no camera session runs, no
// keyframe, no ffmpeg to decode it); GET .../thumbnail.jpg answers 404.
var ErrNoPicture = errors.New("no picture")

// routeConsole adds the console's page (/), its assets (/console/FILE) and
// the thumbnails (/v1/streams/{name}/thumbnail.jpg).
func (a *API) routeConsole(mux *http.ServeMux) {
	files, err := fs.Sub(console, "console")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		consoleHeaders(w)
		http.ServeFileFS(w, r, files, "index.html")
	})
	assets := http.StripPrefix("/console/", http.FileServerFS(files))
	mux.HandleFunc("GET /console/{file}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("file") == "index.html" {
			http.Redirect(w, r, "/", http.StatusMovedPermanently)
			return
		}
		consoleHeaders(w)
		assets.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /v1/streams/{name}/thumbnail.jpg", a.thumbnail)
}

// consoleHeaders sets the console's security headers.
func consoleHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", ConsoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
}

// thumbnail answers a stream's latest picture, 404 when there is none.
func (a *API) thumbnail(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if a.Thumbnails == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no pictures: thumbnails are not served"})
		return
	}
	jpeg, err := a.Thumbnails.Thumbnail(r.Context(), name)
	if err != nil || len(jpeg) == 0 {
		msg := "no picture of stream " + name
		if err != nil {
			msg = err.Error()
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": msg})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(jpeg)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(jpeg)
}
