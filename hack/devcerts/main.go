// Command devcerts makes development certificates for seal-webhook's --cert-dir mode: a CA and a
// serving certificate for the names you give, written as ca.crt, tls.crt and tls.key. In a
// cluster seal-webhook manages its own certificate; use this for a webhook on your laptop or in
// a test cluster whose API server calls it by URL.
//
//	go run ./hack/devcerts --out ./certs --ip 127.0.0.1 --dns localhost
//	seal-webhook --cert-dir ./certs ...
//	# caBundle for the webhook configurations: base64 -w0 ./certs/ca.crt (or: make dev-certs)
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/servingcert"
)

func main() {
	out := flag.String("out", "webhook-certs", "directory to write ca.crt, tls.crt and tls.key into")
	dns := flag.String("dns", "localhost", "comma list of DNS names for the serving certificate")
	ips := flag.String("ip", "127.0.0.1", "comma list of IP addresses for the serving certificate")
	validity := flag.Duration("validity", 30*24*time.Hour, "lifetime of the CA and the certificate")
	flag.Parse()
	var addrs []net.IP
	for _, s := range split(*ips) {
		ip := net.ParseIP(s)
		if ip == nil {
			fmt.Fprintf(os.Stderr, "certs: --ip %q is not an IP address\n", s)
			os.Exit(2)
		}
		addrs = append(addrs, ip)
	}
	if _, err := servingcert.WriteFiles(*out, split(*dns), addrs, time.Now(), *validity); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s/ca.crt, tls.crt and tls.key (valid %s)\nseal-webhook --cert-dir %s ...\ncaBundle: base64 -w0 %s/ca.crt\n", *out, *validity, *out, *out)
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
