package enroll

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/seal-dev/seal/internal/rotapi"
)

// DirSecrets holds the workload's current secrets, one file each: secrets/<name>.
const DirSecrets = "secrets"

// DefaultSecretsInterval is how often a watching seal-init polls GET /v1/secrets.
const DefaultSecretsInterval = 30 * time.Second

// secretsState is the last good set of secrets, written with every file set. Its mutex also
// serializes writes of the file set (renewals and secret updates run in two goroutines).
type secretsState struct {
	mu     sync.Mutex
	id     *Identity         // last identity written
	files  map[string][]byte // secrets/<name> -> value (nil: none fetched yet)
	etag   string
	client *rotapi.Client // presents the certificate of clientOf
	cliOf  *Identity
	base   string // ROT URL (the Egg's; tests point it elsewhere)
}

// secretsClient returns a client presenting id's certificate, reused while id is current.
func (e *Enroller) secretsClient(id *Identity) (*rotapi.Client, error) {
	if e.sec.client != nil && e.sec.cliOf == id {
		return e.sec.client, nil
	}
	cert, err := tls.X509KeyPair(id.Files[FileCert], id.Files[FileKey])
	if err != nil {
		return nil, fmt.Errorf("enroll: the pod certificate: %w", err)
	}
	base := e.sec.base
	if base == "" {
		base = e.outer.ROT
	}
	c, err := rotapi.NewClient(base, []byte(e.outer.ROTCA), &cert)
	if err != nil {
		return nil, err
	}
	if e.sec.client != nil {
		e.sec.client.HTTP.CloseIdleConnections()
	}
	e.sec.client, e.sec.cliOf = c, id
	return c, nil
}

// fetchSecrets asks the ROT for the workload's secrets with id's certificate and decrypts
// them with id's data keys. changed is false when the ROT answered 304 (files is then nil).
// Call with e.sec.mu held.
func (e *Enroller) fetchSecrets(ctx context.Context, id *Identity) (files map[string][]byte, changed bool, err error) {
	c, err := e.secretsClient(id)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, maxAttemptTimeout)
	defer cancel()
	etag := e.sec.etag
	if e.sec.files == nil {
		etag = ""
	}
	doc, tag, err := c.Secrets(ctx, etag)
	if errors.Is(err, rotapi.ErrNotModified) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ids, err := age.ParseIdentities(strings.NewReader(string(id.Files[FileKeys])))
	if err != nil {
		return nil, false, fmt.Errorf("enroll: keys.txt: %w", err)
	}
	files = map[string][]byte{}
	for _, s := range doc.Secrets {
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(s.Value)), ids...)
		if err != nil {
			return nil, false, fmt.Errorf("enroll: secret %q does not decrypt with the workload's data keys: %w", s.Name, err)
		}
		v, err := io.ReadAll(io.LimitReader(r, rotapi.MaxSecretValue+1))
		if err != nil {
			return nil, false, fmt.Errorf("enroll: secret %q: %w", s.Name, err)
		}
		files[DirSecrets+"/"+s.Name] = v
	}
	e.sec.etag = tag
	return files, true, nil
}

// firstSecrets fetches the secrets for the first file set, retrying with backoff until
// deadline. A ROT without the secrets API (404) means no secrets.
func (e *Enroller) firstSecrets(ctx context.Context, id *Identity, deadline time.Time) error {
	e.sec.mu.Lock()
	defer e.sec.mu.Unlock()
	for attempt := 1; ; attempt++ {
		files, _, err := e.fetchSecrets(ctx, id)
		var se *rotapi.StatusError
		if errors.As(err, &se) && se.Code == http.StatusNotFound {
			e.log().Warn("the ROT does not serve secrets (404); writing none", "rot", e.ROT())
			e.sec.files = map[string][]byte{}
			return nil
		}
		if err == nil {
			e.sec.files = files
			return nil
		}
		left := deadline.Sub(e.now())
		if ctx.Err() != nil || permanent(err) || left <= 0 {
			return &Failure{Err: err,
				What:  fmt.Sprintf("cannot fetch the workload's secrets from the ROT at %s (%d attempts, last: %s)", e.ROT(), attempt, cause(err)),
				Check: "check the ROT's logs; to start the pod without secrets, set the annotation seal.dev/secrets: \"false\" (seal-init --secrets=false)"}
		}
		d := min(e.Backoff.Delay(attempt-1), left)
		e.log().Warn("fetching secrets failed; retrying", "attempt", attempt, "in", d.Round(time.Millisecond).String(), "cause", cause(err))
		if err := e.sleep(ctx, d); err != nil {
			return &Failure{Err: err, What: "stopped while fetching the workload's secrets", Check: "the container was told to stop"}
		}
	}
}

// filesLocked is id's file set with the current secrets. Call with e.sec.mu held.
func (e *Enroller) filesLocked(id *Identity) map[string][]byte {
	if len(e.sec.files) == 0 {
		return id.Files
	}
	files := maps.Clone(id.Files)
	maps.Copy(files, e.sec.files)
	return files
}

// WatchSecrets polls the ROT every SecretsInterval (less up to a fifth at random, so pods do
// not poll in step) and rewrites the file set when the secrets change: values, new and
// removed secrets, windows that open or close. A failed poll keeps the last good set. It
// returns when ctx ends. Enroll must have written a set first.
func (e *Enroller) WatchSecrets(ctx context.Context, jitter func() float64) {
	if jitter == nil {
		jitter = rand.Float64
	}
	interval := e.SecretsInterval
	if interval <= 0 {
		interval = DefaultSecretsInterval
	}
	for {
		d := time.Duration(float64(interval) * (1 - jitter()/5))
		if err := e.sleep(ctx, d); err != nil || ctx.Err() != nil {
			return
		}
		e.pollSecrets(ctx)
	}
}

// pollSecrets makes one poll and writes the set when the secrets changed.
func (e *Enroller) pollSecrets(ctx context.Context) {
	e.sec.mu.Lock()
	defer e.sec.mu.Unlock()
	id := e.sec.id
	if id == nil {
		return
	}
	files, changed, err := e.fetchSecrets(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			e.log().Warn("polling secrets failed; keeping the last good set", "rot", e.ROT(), "cause", cause(err))
		}
		return
	}
	if !changed || maps.EqualFunc(files, e.sec.files, func(a, b []byte) bool { return string(a) == string(b) }) {
		return
	}
	old := e.sec.files
	e.sec.files = files
	if err := e.writeLocked(id); err != nil {
		e.sec.files, e.sec.etag = old, "" // try again next time
		e.log().Error("writing the new secrets failed; keeping the last good set", "err", err)
		return
	}
	e.log().Info("secrets changed", "secrets", len(files))
}
