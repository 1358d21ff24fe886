package sniproxy

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Proxy forwards each accepted connection, bytes unchanged, to the backend its ClientHello's
// SNI names. Connections with an unknown or missing SNI are closed.
type Proxy struct {
	// HelloTimeout bounds the wait for the ClientHello (default 10s).
	HelloTimeout time.Duration
	// DialTimeout bounds the connection to a backend (default 5s).
	DialTimeout time.Duration

	l      net.Listener
	mu     sync.Mutex
	routes map[string]string
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a proxy on addr (e.g. "127.0.0.1:0") with routes from lower-case host name to
// backend address, and serves until Close.
func Listen(addr string, routes map[string]string) (*Proxy, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, routes: map[string]string{}, conns: map[net.Conn]struct{}{}}
	for h, b := range routes {
		p.routes[strings.ToLower(h)] = b
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// SetRoute routes host to backend ("" removes the route).
func (p *Proxy) SetRoute(host, backend string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if backend == "" {
		delete(p.routes, strings.ToLower(host))
		return
	}
	p.routes[strings.ToLower(host)] = backend
}

// Close stops listening, closes every open connection and waits for them to finish.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.l.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	_ = c.Close()
}

func (p *Proxy) handle(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(orDefault(p.HelloTimeout, 10*time.Second)))
	host, raw, err := ReadClientHello(c)
	if err != nil {
		slog.Debug("sniproxy: bad ClientHello", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	p.mu.Lock()
	backend, ok := p.routes[strings.ToLower(host)]
	p.mu.Unlock()
	if !ok {
		slog.Debug("sniproxy: no route", "host", host)
		return
	}
	b, err := net.DialTimeout("tcp", backend, orDefault(p.DialTimeout, 5*time.Second))
	if err != nil {
		slog.Debug("sniproxy: dial backend", "backend", backend, "err", err)
		return
	}
	if !p.track(b) {
		_ = b.Close()
		return
	}
	defer p.untrack(b)
	if _, err := b.Write(raw); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	<-done
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
