package service

import (
	"crypto/subtle"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// authorized reports whether r carries the bearer token (or no token is
// required). The compare takes the same time whatever the guess.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// crossSite says why r, a POST /run, comes from another site's page, or
// "": a browser names the site that sent it in Sec-Fetch-Site and Origin.
// Without this check a page elsewhere could make a playground on the
// visitor's machine run code. Clients that are not browsers send neither.
func crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site: " + site + ": POST /run takes requests from this server's own page, or from clients that are not browsers"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return "Origin: " + o + " is not this server (" + r.Host + "): POST /run takes requests from this server's own page"
		}
	}
	return ""
}

// notJSON says what is wrong with r's Content-Type, or "": POST /run
// takes application/json only (which a form on another site cannot send
// without the browser asking first).
func notJSON(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return ""
	}
	if ct == "" {
		ct = "none"
	}
	return "Content-Type: " + ct + ": send the request as application/json (curl: -H 'Content-Type: application/json')"
}

// limiter is the per-client rate limit: a token bucket per client IP
// (the connection's address: put the server behind a proxy that is one
// client per user, or leave it off).
type limiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	clients map[string]*client
	swept   time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxClients bounds the table; idle clients are swept past it.
const maxClients = 10000

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{r: rate.Limit(perSecond), burst: int(math.Ceil(perSecond)), clients: map[string]*client{}}
}

// allow reports whether the client of r may make a request now, and if
// not, in how long it may.
func (l *limiter) allow(r *http.Request) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[ip]
	if c == nil {
		if len(l.clients) >= maxClients {
			l.sweep(now)
		}
		c = &client{lim: rate.NewLimiter(l.r, l.burst)}
		l.clients[ip] = c
	}
	c.seen = now
	res := c.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets clients whose bucket has refilled.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst)/float64(l.r)*float64(time.Second)) + time.Second
	for ip, c := range l.clients {
		if now.Sub(c.seen) > full {
			delete(l.clients, ip)
		}
	}
	l.swept = now
}
