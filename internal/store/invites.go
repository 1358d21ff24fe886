package store

import "time"

// Invite is what the inviting ROT keeps of a federation invite (sealctl federation invite):
// never the secret, only its SHA-256, so that a reader of the state cannot join with it.
type Invite struct {
	ID           string    `json:"id"`
	SecretSHA256 string    `json:"secretSHA256"`
	URL          string    `json:"url"`
	BundleDigest string    `json:"bundleDigest"`
	NotAfter     time.Time `json:"notAfter"`
	Created      time.Time `json:"created"`
	// Used is when a trust domain joined with it (UsedBy); an invite is used once.
	Used   *time.Time `json:"used,omitempty"`
	UsedBy string     `json:"usedBy,omitempty"`
}
