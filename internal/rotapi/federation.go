package rotapi

import "time"

// First contact between two trust domains (sealctl federation invite | join).
const (
	// PathInvites: POST InviteRequest issues an invite (InviteResponse); GET lists them
	// ([]InviteInfo, never a secret).
	PathInvites = "/v1/admin/federation/invites"
	// PathJoinAdmin: POST JoinAdminRequest makes this ROT join the trust domain that issued
	// the invite; it answers the FederatedBundle it now holds for it.
	PathJoinAdmin = "/v1/admin/federation/join"
	// PathJoin is the inviting ROT's side of a join: POST JoinRequest, JoinResponse. The invite
	// is the credential; the joining ROT calls it only over TLS pinned by the invite.
	PathJoin = "/v1/federation/join"
)

// Invite lifetimes.
const (
	DefaultInviteTTL = time.Hour
	MaxInviteTTL     = 7 * 24 * time.Hour
)

// InviteRequest is the body of POST PathInvites.
type InviteRequest struct {
	TTL string `json:"ttl,omitempty"` // Go duration; DefaultInviteTTL when empty
}

// InviteResponse carries a new invite's text: the only time it is shown.
type InviteResponse struct {
	InviteInfo
	Invite string `json:"invite"`
}

// InviteInfo describes an invite (never its secret).
type InviteInfo struct {
	ID       string     `json:"id"`
	NotAfter time.Time  `json:"notAfter"`
	Created  time.Time  `json:"created"`
	Used     *time.Time `json:"used,omitempty"`
	UsedBy   string     `json:"usedBy,omitempty"`
}

// JoinAdminRequest is the body of POST PathJoinAdmin.
type JoinAdminRequest struct {
	Invite string `json:"invite"`
}

// JoinRequest is what the joining ROT sends the inviting one: the invite, and its own trust
// domain, bundle (SPIFFE bundle document) and bundle endpoint.
type JoinRequest struct {
	Invite            string `json:"invite"`
	TrustDomain       string `json:"trustDomain"`
	Bundle            string `json:"bundle"`
	BundleEndpointURL string `json:"bundleEndpointURL"`
}

// JoinResponse is the inviting ROT's answer: its trust domain, bundle and bundle endpoint.
type JoinResponse struct {
	TrustDomain       string `json:"trustDomain"`
	Bundle            string `json:"bundle"`
	BundleEndpointURL string `json:"bundleEndpointURL"`
}
