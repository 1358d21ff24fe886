package rotapi

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// Paths of encrypted images' keys.
const (
	// PathImageKeys: POST creates a fresh image key of the workload (admin; sealctl image
	// seal --encrypt).
	PathImageKeys = "/v1/admin/workloads/{name}/image-keys"
	// PathImageKey: POST releases an image key to an attesting node (seal-keyprovider).
	PathImageKey = "/v1/image-key"
)

// ImageKeySize is the size of an image key (AES-256).
const ImageKeySize = 32

// ImageKeyIDLen is the length of an image key id: 16 random bytes, hex.
const ImageKeyIDLen = 32

// ValidImageKeyID reports whether id is an image key id (ImageKeyIDLen lowercase hex digits).
func ValidImageKeyID(id string) bool {
	if len(id) != ImageKeyIDLen || strings.ToLower(id) != id {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// ImageKeyCreate is the body of POST PathImageKeys (empty: the ROT makes the key).
type ImageKeyCreate struct{}

// ImageKey is an image key: its id, its workload and (when created or released) the key.
type ImageKey struct {
	ID       string    `json:"id"`
	Workload string    `json:"workload"`
	Key      []byte    `json:"key,omitempty"`
	Created  time.Time `json:"created,omitempty"`
}

// ImageKeyRequest is the body of POST PathImageKey: a node asks for the key of an image it
// pulls, with an Egg of the image's workload (the one sealed into it) and attestation
// evidence quoted over a nonce of POST /v1/attest/challenge for that Egg.
type ImageKeyRequest struct {
	Egg string `json:"egg"`
	// ImageKey is the id of the image key (in the encrypted layers' annotation).
	ImageKey string    `json:"imageKey"`
	Evidence *Evidence `json:"evidence,omitempty"`
	// Token is a pod's ServiceAccount token, for workloads bound to clusters.
	Token string `json:"token,omitempty"`
}

// ReleaseImageKey asks the ROT for an image key.
func (c *Client) ReleaseImageKey(ctx context.Context, req *ImageKeyRequest) (*ImageKey, error) {
	var out ImageKey
	if err := c.Do(ctx, http.MethodPost, PathImageKey, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
