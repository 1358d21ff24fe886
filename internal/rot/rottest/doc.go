// Package rottest runs a real seal-rot server for tests: the real rot handler over real TLS on
// 127.0.0.1, with a fresh file state directory, closed when the test ends.
//
//	r := rottest.Start(t)
//	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api", "db"}})
//	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
//	// hand eggText to seal-init, or redeem it with rotapi.NewClient(r.URL, r.CAPEM, nil)
package rottest
