package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// clustersDir holds DIR/clusters/NAME.json: the clusters whose pods may redeem (pod binding).
const clustersDir = "clusters"

// loadClusters reads DIR/clusters into st.
func (f *File) loadClusters(st *State) error {
	return readAll(filepath.Join(f.dir, clustersDir), func(name, path string) error {
		var c Cluster
		if err := readJSON(path, &c); err != nil {
			return err
		}
		if c.Name != name || c.Issuer == "" {
			return fmt.Errorf("%w: %s holds cluster %q or no issuer", ErrCorrupt, path, c.Name)
		}
		st.Clusters[name] = &c
		return nil
	})
}

// PutCluster writes clusters/NAME.json.
func (f *File) PutCluster(_ context.Context, c *Cluster) error {
	return f.writeJSON(clustersDir, c.Name, c)
}

// DeleteCluster removes clusters/NAME.json.
func (f *File) DeleteCluster(_ context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(f.dir, clustersDir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: cluster %q", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return syncDir(filepath.Join(f.dir, clustersDir))
}
