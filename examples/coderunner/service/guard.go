package service

import (
	"crypto/subtle"
	"math"
	"net"
	"net/http"
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
