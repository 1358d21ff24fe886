package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/enroll"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// retryLog counts the causes seal-init's retry loop logs ("ROT not answering yet; retrying").
type retryLog struct {
	mu     sync.Mutex
	causes map[string]int
}

func (l *retryLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *retryLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *retryLog) WithGroup(string) slog.Handler            { return l }
func (l *retryLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "cause" {
			l.mu.Lock()
			l.causes[a.Value.String()]++
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

var status5xx = regexp.MustCompile(`^5\d\d `)

// count returns the number of retries and those whose cause was an HTTP 5xx answer.
func (l *retryLog) count() (all, fivexx int, samples []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, n := range l.causes {
		all += n
		if status5xx.MatchString(c) {
			fivexx += n
		}
		if len(samples) < 8 {
			samples = append(samples, fmt.Sprintf("%d× %s", n, c))
		}
	}
	slices.Sort(samples)
	return all, fivexx, samples
}

// haPair is two seal-rot --kube replicas of one trust domain behind a round-robin front.
type haPair struct {
	env    *testenv.Env
	ns     string
	front  *front
	rots   [2]*rotProc
	admins [2]*rotapi.Client
}

func startHAPair(t *testing.T, env *testenv.Env) *haPair {
	t.Helper()
	bin := testenv.Binary(t, "./cmd/rot")
	p := &haPair{env: env, ns: env.Namespace(t, nil), front: startFront(t)}
	environ := []string{"KUBECONFIG=" + env.Kubeconfig}
	args := []string{"--kube", "--namespace", p.ns, "--trust-domain", "ha.example", "--external-url", "https://" + p.front.addr()}
	// The first replica makes the authority; the second starts on it, as a Deployment's
	// second pod does once the first has initialised the namespace.
	for i := range p.rots {
		p.rots[i] = startROT(t, fmt.Sprintf("replica-%c", 'a'+i), bin, environ, args...)
		var sec corev1.Secret
		testenv.Eventually(t, 90*time.Second, func() error {
			return env.Client.Get(context.Background(), client.ObjectKey{Namespace: p.ns, Name: kubestore.AdminSecret}, &sec)
		})
		p.admins[i] = adminClient(t, p.rots[i].addr, sec.Data["ca.crt"], sec.Data["tls.crt"], sec.Data["tls.key"])
		p.rots[i].waitReady(t, p.admins[i])
	}
	p.front.serve(p.rots[0].addr, p.rots[1].addr)
	return p
}

// TestHAROTUnderLoad: two seal-rot --kube replicas behind a round-robin front; C clients
// redeem N times with seal-init's retry logic (internal/enroll) while one replica is killed
// with SIGKILL and started again. Every redemption succeeds after retry, no retry was caused by
// a 5xx, and afterwards admin writes racing on both replicas each land or get 409, and both
// replicas (and the Secrets) agree on every record.
func TestHAROTUnderLoad(t *testing.T) {
	n, clients := size(500, 10000), size(20, 200)
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	p := startHAPair(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), size(4*time.Minute, 20*time.Minute))
	defer cancel()

	a := p.admins[0]
	if err := a.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "ha", Peers: []string{"api"}}, nil); err != nil {
		t.Fatalf("creating workload ha: %v", err)
	}
	// One Egg per client, minted on either replica: pods of many Deployments.
	var minted []string
	eggs := make([]string, clients)
	for i := range eggs {
		var m rotapi.MintResponse
		// A 409 (the other replica wrote the workload first) is retried, as the admin API says.
		testenv.Eventually(t, 30*time.Second, func() error {
			return p.admins[i%2].Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, "ha"), rotapi.MintRequest{Peer: "api"}, &m)
		})
		eggs[i], minted = m.Egg, append(minted, m.ID)
	}

	// The load: each client is a pod's seal-init renewing again and again (one Enroller, its
	// retry and backoff), through the front.
	retries := &retryLog{causes: map[string]int{}}
	var next, ok atomic.Int64
	var failMu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		e, err := enroll.New(eggs[i], "test")
		if err != nil {
			t.Fatal(err)
		}
		e.Log = slog.New(retries)
		e.Backoff = enroll.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				id, err := e.Redeem(ctx, time.Now().Add(2*time.Minute))
				if err == nil && !strings.HasSuffix(id.SPIFFEID, "/workload/ha/peer/api") {
					err = fmt.Errorf("SPIFFE ID %s", id.SPIFFEID)
				}
				if err != nil {
					failMu.Lock()
					failures = append(failures, err.Error())
					failMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}

	// kill -9 replica b a third of the way in, and start it again a second later.
	killed := p.rots[1]
	var downFor, readyAfter time.Duration
	for next.Load() < int64(n/3) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	killedAt := time.Now()
	killed.kill9()
	time.Sleep(time.Second)
	killed.start()
	downFor = time.Since(killedAt)
	killed.waitReady(t, p.admins[1])
	readyAfter = time.Since(killedAt)
	doneAtRestart := ok.Load()
	wg.Wait()
	elapsed := time.Since(start)

	all, fivexx, samples := retries.count()
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("FIGURES ha-load: %d redemptions by %d clients in %s (%.0f/s); %d ok, %d failed; replica b killed -9 after %d, "+
		"restarted after %s, ready %s after the kill, %d redemptions done by then; seal-init retries: %d (%d caused by a 5xx); "+
		"front: %d connections, %d refused by the dead backend; load average %s",
		n, clients, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), ok.Load(), len(failures), n/3,
		downFor.Round(time.Millisecond), readyAfter.Round(time.Millisecond), doneAtRestart, all, fivexx,
		p.front.conns.Load(), p.front.refused.Load(), strings.TrimSpace(string(load)))
	t.Logf("retry causes (sample): %s", strings.Join(samples, "; "))
	if len(failures) > 0 {
		t.Errorf("%d redemptions lost after seal-init's retries, want 0; first: %s", len(failures), failures[0])
	}
	if fivexx > 0 {
		t.Errorf("%d retries were caused by a 5xx answer, want 0 (only broken connections): %s", fivexx, strings.Join(samples, "; "))
	}

	// Admin writes racing on both replicas.
	race := raceAdmin(ctx, t, p, size(20, 100))
	minted = append(minted, race.landedEggs...)
	t.Logf("FIGURES ha-admin: racing on both replicas: %d Egg mints landed, %d got 409; %d data-key rotations landed, %d got 409; "+
		"%d same-name workload creates: %d landed, %d got 409",
		len(race.landedEggs), race.eggConflicts, len(race.keyIndexes), race.keyConflicts, race.creates, race.createsLanded, race.createConflicts)
	for _, e := range race.errors {
		t.Errorf("admin write neither landed nor got 409: %s", e)
	}
	if race.createsLanded != race.creates {
		t.Errorf("%d of %d same-name workload creates landed on exactly one replica, want all", race.createsLanded, race.creates)
	}

	// Every landed rotation has its own index: none overwrote another.
	slices.Sort(race.keyIndexes)
	for i, idx := range race.keyIndexes {
		if idx != i+1 {
			t.Errorf("landed data-key rotations got indexes %v, want 1..%d each once (a rotation was lost)", race.keyIndexes, len(race.keyIndexes))
			break
		}
	}

	// Both replicas and the Secrets agree: every landed Egg once, nothing else.
	slices.Sort(minted)
	testenv.Eventually(t, 30*time.Second, func() error {
		var views [2]string
		for i, c := range p.admins {
			var eggs []rotapi.EggInfo
			if err := c.Do(ctx, http.MethodGet, rotapi.Path(rotapi.PathEggs, "ha"), nil, &eggs); err != nil {
				return err
			}
			ids := make([]string, 0, len(eggs))
			for _, e := range eggs {
				ids = append(ids, e.ID)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, minted) {
				return fmt.Errorf("replica %d lists %d Eggs, want the %d landed mints exactly", i, len(ids), len(minted))
			}
			var w rotapi.Workload
			if err := c.Do(ctx, http.MethodGet, rotapi.Path(rotapi.PathWorkload, "ha"), nil, &w); err != nil {
				return err
			}
			var ws []rotapi.Workload
			if err := c.Do(ctx, http.MethodGet, rotapi.PathWorkloads, nil, &ws); err != nil {
				return err
			}
			names := make([]string, 0, len(ws))
			for _, w := range ws {
				names = append(names, w.Name)
			}
			slices.Sort(names)
			views[i] = fmt.Sprintf("workload ha: CA %s, data key %d; workloads %v", w.CAFingerprint, w.DataKeyIndex, names)
			if w.DataKeyIndex != len(race.keyIndexes) {
				return fmt.Errorf("replica %d: workload ha's data key index is %d, want %d (one per landed rotation)", i, w.DataKeyIndex, len(race.keyIndexes))
			}
		}
		if views[0] != views[1] {
			return fmt.Errorf("replicas disagree:\n a: %s\n b: %s", views[0], views[1])
		}
		return nil
	})
	var secs corev1.SecretList
	if err := env.Client.List(ctx, &secs, client.InNamespace(p.ns)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, s := range secs.Items {
		if strings.HasPrefix(s.Name, kubestore.EggsPrefix) {
			for id := range s.Data {
				seen[id]++
			}
		}
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("egg %s is in %d shard Secrets, want 1", id, c)
		}
	}
	if len(seen) != len(minted) {
		t.Errorf("the egg shard Secrets hold %d records, want the %d landed mints", len(seen), len(minted))
	}
	for _, id := range minted {
		if seen[id] != 1 {
			t.Errorf("landed Egg %s has no record in the Secrets", id)
		}
	}
}

// adminRace is what raceAdmin saw.
type adminRace struct {
	landedEggs                              []string
	eggConflicts                            int
	keyIndexes                              []int
	keyConflicts                            int
	creates, createsLanded, createConflicts int
	errors                                  []string
}

// raceAdmin runs the same admin writes on both replicas at once: Egg mints, data-key rotations
// of one workload, and creates of the same workload name.
func raceAdmin(ctx context.Context, t *testing.T, p *haPair, rounds int) *adminRace {
	t.Helper()
	var mu sync.Mutex
	r := &adminRace{}
	is409 := func(err error) bool {
		var se *rotapi.StatusError
		return errors.As(err, &se) && se.Code == http.StatusConflict
	}
	var wg sync.WaitGroup
	for i, c := range p.admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range rounds {
				var m rotapi.MintResponse
				err := c.Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, "ha"), rotapi.MintRequest{Peer: "api"}, &m)
				mu.Lock()
				switch {
				case err == nil:
					r.landedEggs = append(r.landedEggs, m.ID)
				case is409(err):
					r.eggConflicts++
				default:
					r.errors = append(r.errors, fmt.Sprintf("replica %d: mint: %v", i, err))
				}
				mu.Unlock()
				var kr rotapi.KeysResponse
				err = c.Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathKeys, "ha"), nil, &kr)
				mu.Lock()
				switch {
				case err == nil:
					r.keyIndexes = append(r.keyIndexes, kr.Index)
				case is409(err):
					r.keyConflicts++
				default:
					r.errors = append(r.errors, fmt.Sprintf("replica %d: rotate data key: %v", i, err))
				}
				mu.Unlock()
				_ = k
			}
		}()
	}
	// Same-name creates, one pair at a time so each pair really races.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := range rounds / 2 {
			name := fmt.Sprintf("race-%d", k)
			var errs [2]error
			var pw sync.WaitGroup
			for i, c := range p.admins {
				pw.Add(1)
				go func() {
					defer pw.Done()
					errs[i] = c.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: name, Peers: []string{"api"}}, nil)
				}()
			}
			pw.Wait()
			mu.Lock()
			r.creates++
			landed := 0
			for i, err := range errs {
				switch {
				case err == nil:
					landed++
				case is409(err):
					r.createConflicts++
				default:
					r.errors = append(r.errors, fmt.Sprintf("replica %d: create %s: %v", i, name, err))
				}
			}
			if landed == 1 {
				r.createsLanded++
			}
			mu.Unlock()
		}
	}()
	wg.Wait()
	return r
}
