// Package web is the code runner's playground page: plain HTML, CSS and
// JavaScript embedded in the binary (no build step, nothing fetched from
// elsewhere), talking to the service's JSON API (GET /languages, POST /run)
// on the same origin.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// static is the embedded static directory: index.html, app.js, style.css.
var static = func() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded above: it is there
	}
	return sub
}()

// Handler serves the playground: the page at "/" and its assets under
// "/static/". Any other path is 404, so a typo in an API path does not
// answer with the page. Mount it at "/" beside the API's routes.
//
// Every answer carries a Content-Security-Policy that allows only this
// origin's scripts, styles and fetches: the page works offline, and no
// inline script runs even if program output ever slipped into the markup
// (the page renders output as text, never as HTML).
func Handler() http.Handler {
	mux := http.NewServeMux()
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	return securityHeaders(mux)
}

// securityHeaders sets the headers every playground answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
