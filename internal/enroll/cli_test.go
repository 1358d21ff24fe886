package enroll

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlagsAndEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want options
	}{
		{name: "defaults", want: options{eggEnv: "SEAL_EGG", out: DefaultOut, timeout: 2 * time.Minute, logLevel: "info", terminationLog: DefaultTerminationLog, secrets: true, secretsInterval: DefaultSecretsInterval}},
		{name: "flags",
			args: []string{"--egg-file", "/e", "--out", "/o", "--hostname", "a.example", "--hostname", "b.example",
				"--federates-with", "x.org", "--timeout", "5s", "--watch", "--gid", "7", "--health-addr", ":1", "--ready-file", "/r"},
			want: options{eggFile: "/e", eggEnv: "SEAL_EGG", out: "/o", hostnames: listFlag{"a.example", "b.example"},
				federatesWith: listFlag{"x.org"}, timeout: 5 * time.Second, watch: true, gid: 7, healthAddr: ":1", readyFile: "/r", logLevel: "info", terminationLog: DefaultTerminationLog, secrets: true, secretsInterval: DefaultSecretsInterval}},
		{name: "env",
			env: map[string]string{"SEAL_EGG_FROM_IMAGE": "/etc/seal/egg", "SEAL_OUT": "/o", "SEAL_HOSTNAMES": "a.example, b.example,",
				"SEAL_FEDERATES_WITH": "x.org,y.org", "SEAL_TIMEOUT": "30s", "SEAL_WATCH": "true", "SEAL_GID": "1000",
				"SEAL_HEALTH_ADDR": ":9820", "SEAL_READY_FILE": "/r", "SEAL_EGG_ENV": "MY_EGG", "SEAL_LOG_LEVEL": "debug",
				"SEAL_TERMINATION_LOG": "/t", "SEAL_SECRETS": "false", "SEAL_SECRETS_INTERVAL": "10s"},
			want: options{eggFromImage: "/etc/seal/egg", eggEnv: "MY_EGG", out: "/o", hostnames: listFlag{"a.example", "b.example"},
				federatesWith: listFlag{"x.org", "y.org"}, timeout: 30 * time.Second, watch: true, gid: 1000, healthAddr: ":9820",
				readyFile: "/r", logLevel: "debug", terminationLog: "/t", secretsInterval: 10 * time.Second}},
		{name: "a flag beats its env var",
			args: []string{"--out", "/flag", "--hostname", "f.example"},
			env:  map[string]string{"SEAL_OUT": "/env", "SEAL_HOSTNAMES": "e.example", "SEAL_TIMEOUT": "1m"},
			want: options{eggEnv: "SEAL_EGG", out: "/flag", hostnames: listFlag{"f.example"}, timeout: time.Minute, logLevel: "info", terminationLog: DefaultTerminationLog, secrets: true, secretsInterval: DefaultSecretsInterval}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, err := parse(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 {
				t.Errorf("rest = %q", rest)
			}
			if !equalOptions(*got, tc.want) {
				t.Errorf("parse\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func equalOptions(a, b options) bool {
	ah, bh, af, bf := a.hostnames, b.hostnames, a.federatesWith, b.federatesWith
	a.hostnames, b.hostnames, a.federatesWith, b.federatesWith = nil, nil, nil, nil
	return fmt.Sprint(a) == fmt.Sprint(b) && slices.Equal(ah, bh) && slices.Equal(af, bf)
}

func TestMainUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string // the whole stderr
	}{
		{name: "both egg sources", args: []string{"--egg-file", "a", "--egg-from-image", "b"}, code: ExitUsage,
			want: "seal-init: give --egg-file or --egg-from-image, not both (see seal-init --help)\n"},
		{name: "bad env duration", env: map[string]string{"SEAL_TIMEOUT": "soon"}, code: ExitUsage,
			want: "seal-init: bad SEAL_TIMEOUT=\"soon\": parse error (see seal-init --help)\n"},
		{name: "unknown flag", args: []string{"--eggs", "x"}, code: ExitUsage,
			want: "seal-init: flag provided but not defined: -eggs (see seal-init --help)\n"},
		{name: "stray argument", args: []string{"redeem"}, code: ExitUsage,
			want: "seal-init: unexpected argument \"redeem\" (see seal-init --help)\n"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, code: ExitUsage,
			want: "seal-init: bad --log-level: slog: level string \"loud\": unknown name (see seal-init --help)\n"},
		{name: "no egg", code: ExitFailure,
			want: "seal-init: no Egg: environment variable SEAL_EGG is empty and no --egg-file or --egg-from-image was given: mint one with `sealctl egg mint WORKLOAD` and put it in a Secret named by the pod's seal.dev/egg annotation\n"},
		{name: "missing image egg", args: []string{"--egg-from-image", "/nonexistent/egg"}, code: ExitFailure,
			want: "seal-init: cannot read the Egg baked into the app image at /nonexistent/egg (no such file or directory): bake it in with `COPY egg.txt /nonexistent/egg` in the Dockerfile, or fix the pod's seal.dev/egg annotation\n"},
		{name: "copy without dest", args: []string{"copy"}, code: ExitUsage,
			want: "seal-init: usage: seal-init copy DEST (a file, or a directory to hold seal-init)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			termLog := filepath.Join(t.TempDir(), "termination-log")
			if err := os.WriteFile(termLog, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"SEAL_TERMINATION_LOG": termLog}
			maps.Copy(env, tc.env)
			var stderr bytes.Buffer
			code := Main(context.Background(), tc.args, envOf(env), &stderr)
			if code != tc.code || stderr.String() != tc.want {
				t.Errorf("Main = %d, stderr\n%q\nwant %d, stderr\n%q", code, stderr.String(), tc.code, tc.want)
			}
			wantLog := ""
			if tc.code == ExitFailure {
				wantLog = tc.want
			}
			if got, _ := os.ReadFile(termLog); string(got) != wantLog {
				t.Errorf("termination log = %q, want %q", got, wantLog)
			}
		})
	}
}

func TestHelpNamesEveryEnvVar(t *testing.T) {
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, envOf(nil), &stderr); code != ExitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, v := range []string{"SEAL_EGG_FILE", "SEAL_EGG_ENV", "SEAL_EGG_FROM_IMAGE", "SEAL_OUT", "SEAL_HOSTNAMES",
		"SEAL_FEDERATES_WITH", "SEAL_TIMEOUT", "SEAL_WATCH", "SEAL_GID", "SEAL_HEALTH_ADDR", "SEAL_READY_FILE", "seal-init copy DEST"} {
		if !strings.Contains(stderr.String(), v) {
			t.Errorf("--help does not mention %s", v)
		}
	}
}

func TestWatchStopsCleanlyWhileWaiting(t *testing.T) {
	srv, _ := answers(t, func(int64) (int, string) { return 503, `{"error":"starting"}` })
	eggText := testEgg(t, srv.URL, serverCA(srv))
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"sidecar exits 0", []string{"--watch"}, ExitOK},
		{"init container fails", nil, ExitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var stderr testenv.LogBuffer
			done := make(chan int)
			go func() {
				done <- Main(ctx, append([]string{"--out", t.TempDir(), "--termination-log", ""}, tc.args...),
					envOf(map[string]string{"SEAL_EGG": eggText}), &stderr)
			}()
			for !strings.Contains(stderr.String(), "ROT not answering yet") {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if code := <-done; code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
		})
	}
}
