package sealtls_test

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seal-dev/seal/pkg/sealtls"
)

// A server that accepts only the frontend peers of its own workload.
func ExampleServerConfig() {
	src, err := sealtls.Load("") // $SEAL_DIR or /var/run/seal
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr:              ":8443",
		TLSConfig:         sealtls.ServerConfig(src, sealtls.AuthorizePeers("frontend")),
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := sealtls.PeerID(*r.TLS)
			fmt.Fprintf(w, "hello %s\n", id)
		}),
	}
	log.Fatal(srv.ListenAndServeTLS("", "")) // the certificate comes from TLSConfig
}

// A client of the same workload's backend.
func ExampleClientConfig() {
	src, err := sealtls.Load("")
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: sealtls.ClientConfig(src, sealtls.AuthorizePeers("backend"))},
	}
	resp, err := client.Get("https://backend.payments.svc:8443/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
}

// A client in trust domain partner.example.net reaching the payments workload of
// prod.example.org through an OpenShift passthrough Route: the SNI carries the route host so
// the router can pick the Service, and the server must prove the payments/api SPIFFE ID.
func ExampleWithServerName() {
	src, err := sealtls.Load("") // holds bundles/prod.example.org.pem
	if err != nil {
		log.Fatal(err)
	}
	cfg := sealtls.ClientConfig(src,
		sealtls.AuthorizeWorkload("prod.example.org", "payments", "api"),
		sealtls.WithServerName("payments.apps.prod.example.org"))
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Get("https://payments.apps.prod.example.org/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
}

// A server that accepts its own workload and the billing workload of a federated trust domain.
func ExampleAnyOf() {
	src, err := sealtls.Load("")
	if err != nil {
		log.Fatal(err)
	}
	cfg := sealtls.ServerConfig(src, sealtls.AnyOf(
		sealtls.AuthorizeSameWorkload(),
		sealtls.AuthorizeWorkload("partner.example.net", "billing"),
	))
	_ = cfg
}

func ExampleParseWorkloadIDString() {
	id, err := sealtls.ParseWorkloadIDString("spiffe://prod.example.org/workload/payments/peer/frontend")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.TrustDomain, id.Workload, id.Peer)
	// Output: prod.example.org payments frontend
}

// The same application code on Seal's files and on SPIRE's Workload API: it takes go-spiffe's
// two source interfaces, which a *sealtls.Source and a workloadapi.X509Source both implement.
func ExampleSource_GetX509SVID() {
	src, err := sealtls.Load("")
	if err != nil {
		log.Fatal(err)
	}
	// or: src, err := workloadapi.NewX509Source(ctx) // SPIRE
	serve(src, spiffeid.RequireFromString("spiffe://prod.example.org/workload/payments/peer/frontend"))
}

func serve(src interface {
	x509svid.Source
	x509bundle.Source
}, client spiffeid.ID) {
	srv := &http.Server{
		Addr:              ":8443",
		TLSConfig:         tlsconfig.MTLSServerConfig(src, src, tlsconfig.AuthorizeID(client)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
