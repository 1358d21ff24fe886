package webhook

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkInjectHandler: one /inject review through the served handler, without TLS or a
// connection: what the review itself costs (decode, Mutate, answer, metrics), in time and
// allocations, for the small and the large pod.
func BenchmarkInjectHandler(b *testing.B) {
	h := newManager(b, ServerOptions{Log: slog.New(slog.DiscardHandler)}, Options{Registry: promRegistry()}).GetWebhookServer().WebhookMux()
	for _, tc := range []struct {
		name string
		body []byte
	}{{"small", review(smallPod(), "shop")}, {"large", review(largePod(), "shop")}} {
		b.Run(tc.name, func(b *testing.B) {
			check := httptest.NewRecorder() // the pod is injected: what is measured is a patch
			creq := httptest.NewRequest(http.MethodPost, PathInject, bytes.NewReader(tc.body))
			creq.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(check, creq)
			if !bytes.Contains(check.Body.Bytes(), []byte(`"patch":`)) {
				b.Fatalf("the review answered no patch: %s", check.Body.Bytes())
			}
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			w := &discardWriter{h: http.Header{}}
			req := httptest.NewRequest(http.MethodPost, PathInject, nil)
			req.Header.Set("Content-Type", "application/json")
			rd := bytes.NewReader(tc.body)
			for b.Loop() {
				rd.Reset(tc.body)
				req.Body = nopCloser{rd}
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != 0 && w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// discardWriter is a ResponseWriter that keeps the status only.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// The deadlines a real connection has (http.ResponseController sets them on every review).
func (*discardWriter) SetReadDeadline(time.Time) error  { return nil }
func (*discardWriter) SetWriteDeadline(time.Time) error { return nil }
