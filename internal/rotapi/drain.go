package rotapi

import "time"

// PathDrain drains the ROT (POST DrainRequest), resumes it (DELETE) or shows whether it is
// drained (GET); every verb answers DrainStatus. While drained, every other admin request but
// GET is answered 409 Conflict; POST /v1/redeem and GET /v1/bundle go on.
const PathDrain = "/v1/admin/drain"

// MaxDrainReason is the longest reason a drain may carry.
const MaxDrainReason = 256

// DrainRequest is the body of POST PathDrain.
type DrainRequest struct {
	Reason string `json:"reason,omitempty"`
}

// DrainStatus says whether the ROT is drained, since when, why and by whom.
type DrainStatus struct {
	Drained bool       `json:"drained"`
	Since   *time.Time `json:"since,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	By      string     `json:"by,omitempty"`
}
