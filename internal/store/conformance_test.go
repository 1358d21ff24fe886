package store_test

import (
	"testing"

	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
)

func TestFileConformance(t *testing.T) {
	var dir string
	storetest.Run(t,
		func(t *testing.T) store.Store { dir = t.TempDir(); return open(t, dir) },
		func(t *testing.T) store.Store { return open(t, dir) })
}

func TestFileInvites(t *testing.T) { storetest.Invites(t, open(t, t.TempDir())) }

func TestFileImageKeys(t *testing.T) { storetest.ImageKeys(t, open(t, t.TempDir())) }
