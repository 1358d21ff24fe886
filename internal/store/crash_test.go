package store_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
)

// crashWriterEnv makes the test binary a writer that changes the state in dir until killed.
const crashWriterEnv = "SEAL_STORE_CRASH_WRITER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashWriterEnv); dir != "" {
		os.Exit(crashWriter(dir))
	}
	os.Exit(m.Run())
}

// crashWriter writes the authority, workloads of growing size, Egg records and bundles in a
// loop, as a busy ROT does, until it is killed.
func crashWriter(dir string) int {
	st, err := store.OpenFile(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	a, w, e, b := storetest.Authority(), storetest.Workload(), storetest.Egg(), storetest.Bundle()
	prev, err := st.Load(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := 1
	if prev.Authority != nil {
		start = int(prev.Authority.BundleSequence) + 1 // go on from what the last life stored
	}
	for i := start; ; i++ {
		if i == start+1 {
			fmt.Println("writing") // one whole round is stored: the parent may kill from now on
		}
		a.BundleSequence = uint64(i)
		w.Spec.Name = "w" + strconv.Itoa(i%7)
		w.Spec.RouteHosts = append(w.Spec.RouteHosts, fmt.Sprintf("h%d.example.com", i))
		e.ID = fmt.Sprintf("egg-%020d", i%13)
		b.SequenceNumber = uint64(i)
		for _, err := range []error{st.PutAuthority(ctx, a), st.PutWorkload(ctx, w), st.PutEgg(ctx, e), st.PutBundle(ctx, b)} {
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	}
}

// TestKillDuringWrites kills a process writing the state with SIGKILL at random points, again
// and again, and checks after each kill that the state directory opens and loads whole: every
// file is the old or the new version, never half of one (issue #25's store-fault drill; make
// chaos runs it 200 times).
func TestKillDuringWrites(t *testing.T) {
	rounds := 40
	if n, err := strconv.Atoi(os.Getenv("SEAL_CHAOS_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 0; i < rounds; i++ {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashWriterEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		if _, err := out.Read(buf); err != nil {
			t.Fatalf("round %d: the writer did not start: %v", i, err)
		}
		time.Sleep(time.Duration(rand.IntN(20000)) * time.Microsecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: the writer ended on its own (%v): it should have been killed mid-write", i, err)
		}
		st, err := store.OpenFile(dir)
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", i, err)
		}
		if left := tempLeftovers(t, dir); len(left) > 0 {
			t.Fatalf("round %d: after reopening, temporary files of killed writes are left: %v", i, left)
		}
		s, err := st.Load(context.Background())
		st.Close()
		if err != nil {
			t.Fatalf("round %d: the state does not load after kill -9: %v", i, err)
		}
		if s.Authority == nil || len(s.Workloads) == 0 {
			t.Fatalf("round %d: loaded %v authority, %d workloads: a kill lost state that was written before", i, s.Authority != nil, len(s.Workloads))
		}
		// The authority is written first in each round, and every round stored whole before it:
		// what loads is at least the last round seen, never an older one.
		if got := s.Authority.BundleSequence; got < last {
			t.Fatalf("round %d: the stored sequence went back from %d to %d: a completed write was lost", i, last, got)
		} else {
			last = got
		}
	}
	if last < uint64(rounds) {
		t.Errorf("after %d rounds the writer stored only %d rounds of writes: were the kills too early to test anything?", rounds, last)
	}
}

// tempLeftovers lists the temporary files (".NAME.tmp-*") under dir.
func tempLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			left = append(left, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return left
}
