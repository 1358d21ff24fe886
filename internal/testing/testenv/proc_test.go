package testenv

import (
	"os"
	"testing"
	"time"
)

func TestCPUCounters(t *testing.T) {
	p0, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	m0, err := MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until this process's counter has moved 100 ms (on a loaded machine that takes
	// longer than 100 ms of wall time).
	p1 := p0
	for deadline := time.Now().Add(20 * time.Second); p1-p0 < 100*time.Millisecond; p1, _ = ProcCPU(os.Getpid()) {
		if time.Now().After(deadline) {
			t.Fatalf("ProcCPU moved %v in 20 s of a busy loop", p1-p0)
		}
		for end := time.Now().Add(5 * time.Millisecond); time.Now().Before(end); {
		}
	}
	m1, _ := MachineCPU()
	if m1-m0 < p1-p0-20*time.Millisecond { // the tick counters of two files: allow two ticks
		t.Errorf("the machine used %v of CPU while this process used %v", m1-m0, p1-p0)
	}
	if _, err := ProcCPU(-1); err == nil {
		t.Error("ProcCPU(-1): no error")
	}
}
