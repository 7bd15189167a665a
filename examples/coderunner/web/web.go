// Package web is the code runner's playground page: plain HTML and
// JavaScript, embedded in the binary, talking to the service's JSON API.
package web

import "net/http"

// Handler serves the playground page.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>corral playground</title><p>coming soon</p>\n"))
	})
}
