package rot

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBucketsRefill(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBuckets(RateLimit{Rate: 2, Burst: 3}, 10)
	steps := []struct {
		at       time.Duration
		wantOK   bool
		wantWait time.Duration
	}{
		{0, true, 0}, {0, true, 0}, {0, true, 0}, // the burst
		{0, false, 500 * time.Millisecond},
		{250 * time.Millisecond, false, 250 * time.Millisecond},
		{500 * time.Millisecond, true, 0},
		{400 * time.Millisecond, false, 500 * time.Millisecond},          // the clock stepped back: no refill
		{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, // full again, never more than the burst
		{time.Hour, false, 500 * time.Millisecond},
	}
	for i, s := range steps {
		wait, ok := b.take("k", t0.Add(s.at))
		if ok != s.wantOK || (!ok && (wait-s.wantWait).Abs() > time.Millisecond) {
			t.Errorf("step %d at %s: got ok=%v wait=%s, want ok=%v wait=%s", i, s.at, ok, wait, s.wantOK, s.wantWait)
		}
	}
	if wait, ok := b.take("other", t0); !ok || wait != 0 {
		t.Errorf("another key shares the bucket: ok=%v wait=%s", ok, wait)
	}
}

// A flood of distinct client addresses holds at most MaxTracked buckets, and idle buckets go
// as traffic continues.
func TestBucketsBounded(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBuckets(RateLimit{Rate: 1, Burst: 5}, 100)
	for i := range 100000 {
		b.take(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), t0)
		if n := b.len(); n > 100 {
			t.Fatalf("%d buckets after %d addresses, want at most 100", n, i+1)
		}
	}
	// A busy client keeps its bucket (least recently used goes first)...
	b = newBuckets(RateLimit{Rate: 1, Burst: 2}, 3)
	b.take("busy", t0)
	b.take("busy", t0)
	for i := range 10 {
		b.take(fmt.Sprint("flood-", i), t0)
		b.take("busy", t0) // refused, but used: it stays
	}
	if _, ok := b.take("busy", t0); ok {
		t.Error("the busy client's empty bucket was dropped under the flood")
	}
	// ...and buckets that are full again are dropped as new requests come.
	b = newBuckets(RateLimit{Rate: 1, Burst: 2}, 1000)
	for i := range 500 {
		b.take(fmt.Sprint("a-", i), t0)
	}
	later := t0.Add(time.Minute)
	for i := range 300 {
		b.take(fmt.Sprint("b-", i), later)
	}
	if n := b.len(); n > 300+200 {
		t.Errorf("%d buckets after the idle ones could go, want at most 500", n)
	}
}

func TestRedeemLimitsCheck(t *testing.T) {
	tests := []struct {
		name    string
		l       RedeemLimits
		wantErr string
	}{
		{"defaults", DefaultRedeemLimits, ""},
		{"off", RedeemLimits{}, ""},
		{"negative rate", RedeemLimits{PerEgg: RateLimit{Rate: -1, Burst: 1}}, "per-Egg redeem rate -1"},
		{"NaN rate", RedeemLimits{PerClient: RateLimit{Rate: math.NaN(), Burst: 1}}, "per-client redeem rate NaN"},
		{"no burst", RedeemLimits{PerClient: RateLimit{Rate: 5}}, "per-client redeem burst 0 must be at least 1"},
		{"negative bound", RedeemLimits{MaxTracked: -1}, "MaxTracked -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Check()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%s) = %s, want %s", d, got, want)
		}
	}
}

// BenchmarkBucketsTake is the cost the limits add to a redemption (two takes).
func BenchmarkBucketsTake(b *testing.B) {
	bk := newBuckets(DefaultRedeemLimits.PerClient, 0)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		bk.take("192.0.2.1", now)
	}
}

// TestPerClientLimitOffByDefault: behind NAT, an SNAT load balancer or a passthrough Route every
// pod shares one address, so a default per-client bucket would let anyone behind it block every
// redemption by flooding garbage (found in review). The default must not build one.
func TestPerClientLimitOffByDefault(t *testing.T) {
	st, err := newRedeemState(nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.perClient != nil {
		t.Errorf("default limits build a per-client bucket (%+v); want none", DefaultRedeemLimits.PerClient)
	}
	if st.perEgg == nil {
		t.Errorf("default limits build no per-Egg bucket; want one")
	}
}
