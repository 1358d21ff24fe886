package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// watchSecret is "demoapp secret --name NAME": it reads DIR/secrets/NAME every --interval and
// logs its content whenever it changes, and when the file goes away (the demo's secrets are
// test values, meant to be seen; a real app never logs a secret).
func watchSecret(ctx context.Context, log *slog.Logger, args []string) error {
	flags := flag.NewFlagSet("secret", flag.ExitOnError)
	dir := flags.String("dir", "", "identity directory (default $SEAL_DIR, else /var/run/seal)")
	name := flags.String("name", "db-password", "the secret's name")
	interval := flags.Duration("interval", time.Second, "how often to read the file")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		*dir = os.Getenv("SEAL_DIR")
	}
	if *dir == "" {
		*dir = "/var/run/seal"
	}
	path := filepath.Join(*dir, "secrets", *name)
	const absent = "\x00absent"
	last := ""
	for {
		b, err := os.ReadFile(path)
		cur := string(b)
		if errors.Is(err, os.ErrNotExist) {
			cur = absent
		} else if err != nil {
			log.Warn("reading the secret failed", "path", path, "error", err)
			cur = last
		}
		if cur != last {
			if cur == absent {
				log.Info("secret absent", "path", path)
			} else {
				log.Info("secret value", "path", path, "value", cur)
			}
			last = cur
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}
