// Package rotapi is the wire contract of the ROT's HTTPS API: paths, JSON request and response
// bodies, and a small client used by seal-init and sealctl. It imports only the standard
// library so that seal-init stays small.
package rotapi
