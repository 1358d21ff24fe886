package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/seal-dev/seal/pkg/sealtls"
)

// handshake serves mTLS with the first pod's identity, authorizing only its own workload, and
// connects with the second pod's identity (accepted) and an external identity of another
// workload (refused).
func (d *story) handshake(ctx context.Context) error {
	d.n.Step("mTLS between the two pods with pkg/sealtls, authorizing peers by SPIFFE ID.")
	server, err := sealtls.Load(d.podDirs[0])
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", sealtls.ServerConfig(server, sealtls.AuthorizeSameWorkload()))
	if err != nil {
		return err
	}
	defer ln.Close()
	go serveHello(ln)
	d.n.Say("%s serves as %s", d.pods[0].Name, server.ID())

	client, err := sealtls.Load(d.podDirs[1])
	if err != nil {
		return err
	}
	reply, err := hello(ctx, ln.Addr().String(), client)
	if err != nil {
		return fmt.Errorf("demo: the second pod could not talk to the first: %w", err)
	}
	d.n.Say("%s (%s) connects: %s", d.pods[1].Name, client.ID(), reply)
	d.n.Done("the two pods completed mTLS, each verifying the other's SPIFFE ID")

	d.n.Say("A third identity: an external client certificate of another workload.")
	if _, err := d.sealctl(ctx, nil, "workload", "create", "intruder"); err != nil {
		return err
	}
	out := filepath.Join(d.dir, "intruder")
	if _, err := d.sealctl(ctx, nil, "cert", "intruder", "--peer", "any", "--out", out); err != nil {
		return err
	}
	// The intruder even trusts the payments CA (it is public): only the server's check of the
	// client's SPIFFE ID can stop it.
	caPEM, err := os.ReadFile(filepath.Join(d.podDirs[0], "ca.crt"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "ca.crt"), caPEM, 0o600); err != nil {
		return err
	}
	intruder, err := sealtls.Load(out)
	if err != nil {
		return err
	}
	reply, err = hello(ctx, ln.Addr().String(), intruder, sealtls.AuthorizeAny())
	if err == nil {
		return fmt.Errorf("demo: %s was let in by the payments server: %s", intruder.ID(), reply)
	}
	d.n.Say("%s connects and the payments server refuses it: %v", intruder.ID(), err)
	d.n.Done("a certificate of another workload was refused, though it chains to the same ROT")
	return nil
}

func serveHello(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				return
			}
			id, _ := sealtls.PeerID(tc.ConnectionState())
			fmt.Fprintf(c, "hello %s\n", id)
		}()
	}
}

// hello connects to addr as src and returns the server's greeting.
func hello(ctx context.Context, addr string, src *sealtls.Source, authorize ...sealtls.Authorizer) (string, error) {
	a := sealtls.AuthorizeSameWorkload()
	if len(authorize) > 0 {
		a = authorize[0]
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: sealtls.ClientConfig(src, a)}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dialer.DialContext(cctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return line[:len(line)-1], nil
}
