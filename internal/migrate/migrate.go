package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/store"
)

// Sentinel errors callers branch on.
var (
	// ErrEmptySource: the source holds no ROT (no authority); there is nothing to move.
	ErrEmptySource = errors.New("migrate: the source holds no ROT state")
	// ErrNotEmpty: the destination already holds state; migrate never merges or overwrites.
	ErrNotEmpty = errors.New("migrate: the destination is not empty")
	// ErrMismatch: after the copy, the destination does not read back as the source.
	ErrMismatch = errors.New("migrate: the copy does not match the source")
)

// Count is how many records of one kind a state holds.
type Count struct {
	Kind string
	N    int
}

// Plan is what a migration moves (or, with DryRun, would move).
type Plan struct {
	TrustDomain string
	Counts      []Count // in Kinds order
	// Facts are the values Checks compare (name: value), in Checks order.
	Facts []Fact
}

// Fact is one named value of a state (a Check's value).
type Fact struct{ Name, Value string }

// String prints the plan, one line per kind and per check.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "trust domain %s\n", p.TrustDomain)
	for _, c := range p.Counts {
		fmt.Fprintf(&b, "  %-22s %d\n", c.Kind, c.N)
	}
	for _, f := range p.Facts {
		fmt.Fprintf(&b, "  %-22s %s\n", f.Name, f.Value)
	}
	return b.String()
}

// Options tune Migrate.
type Options struct {
	// DryRun reads both stores, checks the destination is empty and returns the plan without
	// writing anything.
	DryRun bool
	// From and To are the key providers of the source and the destination (nil: keys in clear,
	// custody.File without a KEK). When To is set, every stored key is sealed again for it
	// (custody.Reseal) before it is written: under another KEK, or onto a PKCS#11 token, where
	// a CA key is imported once and is non-extractable from then on. A key already on the
	// source's token cannot leave it.
	From, To custody.Keys
}

// Migrate copies the whole state of from into to. It only reads from. It refuses a
// destination that holds anything (ErrNotEmpty), and after copying reads to back and compares
// it with from (ErrMismatch). When a write fails midway, the destination holds part of the
// state; the error says so, and the destination must be cleared before trying again.
func Migrate(ctx context.Context, from, to store.Store, o Options) (*Plan, error) {
	src, err := from.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: reading the source: %w", err)
	}
	if src.Authority == nil {
		return nil, ErrEmptySource
	}
	dst, err := to.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: reading the destination: %w", err)
	}
	if held := nonEmpty(dst); len(held) > 0 {
		return nil, fmt.Errorf("%w: it holds %s; fix: migrate into a new state directory, or a namespace of a cluster without Seal state", ErrNotEmpty, strings.Join(held, ", "))
	}
	if _, ok := to.(store.ImageKeyStore); !ok && len(src.ImageKeys) > 0 {
		return nil, fmt.Errorf("migrate: %w", errNoImageKeys)
	}
	plan := Describe(src)
	if o.DryRun {
		return plan, nil
	}
	want := src
	if o.To != nil {
		fromKeys := o.From
		if fromKeys == nil {
			if fromKeys, err = custody.NewFile(nil, nil); err != nil {
				return nil, err
			}
		}
		resealed := *src
		if err := custody.Reseal(&resealed, fromKeys, o.To); err != nil {
			return nil, fmt.Errorf("migrate: sealing the keys for the destination's key provider (nothing was written): %w", err)
		}
		want = &resealed
		plan = Describe(want)
	}
	for i, k := range Kinds {
		if err := k.Copy(ctx, want, to); err != nil {
			left := "the destination now holds part of the state: clear it before migrating again"
			if i == 0 {
				left = "nothing was written"
			}
			return plan, fmt.Errorf("migrate: copying %s: %w (%s)", k.Name, err, left)
		}
	}
	got, err := to.Load(ctx)
	if err != nil {
		return plan, fmt.Errorf("migrate: reading the copy back: %w", err)
	}
	if err := Verify(want, got); err != nil {
		return plan, err
	}
	return plan, nil
}

// Describe is the plan of moving st: its counts and the values Checks compare.
func Describe(st *store.State) *Plan {
	p := &Plan{}
	if st.Authority != nil {
		p.TrustDomain = st.Authority.TrustDomain
	}
	for _, k := range Kinds {
		p.Counts = append(p.Counts, Count{Kind: k.Name, N: k.Count(st)})
	}
	for _, c := range Checks {
		p.Facts = append(p.Facts, Fact{Name: c.Name, Value: c.Value(st)})
	}
	return p
}

// Verify compares got with want check by check and names every difference (ErrMismatch).
func Verify(want, got *store.State) error {
	var diffs []string
	for _, k := range Kinds {
		if w, g := k.Count(want), k.Count(got); w != g {
			diffs = append(diffs, fmt.Sprintf("%s: source %d, copy %d", k.Name, w, g))
		}
	}
	for _, c := range Checks {
		if w, g := c.Value(want), c.Value(got); w != g {
			diffs = append(diffs, fmt.Sprintf("%s: source %q, copy %q", c.Name, w, g))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", ErrMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

func nonEmpty(st *store.State) []string {
	var held []string
	for _, k := range Kinds {
		if n := k.Count(st); n > 0 {
			held = append(held, fmt.Sprintf("%d %s", n, k.Name))
		}
	}
	return held
}
