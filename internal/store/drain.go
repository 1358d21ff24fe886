package store

import "time"

// Drain records that the ROT is drained (sealctl rot drain): admin changes are refused until
// it is resumed, while redemption and the bundle endpoint go on. It is kept in the Authority,
// so every replica sees it and a migrated ROT arrives drained.
type Drain struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason,omitempty"`
	// By is the admin certificate that drained the ROT (common name and serial).
	By string `json:"by,omitempty"`
}
