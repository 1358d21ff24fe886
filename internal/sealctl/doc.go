// Package sealctl is the admin CLI of Seal: cobra commands that manage a ROT's workloads, Eggs,
// external-client certificates, data keys and federated bundles over the ROT's mTLS admin API
// (internal/rotapi), and seal data to a workload with age.
//
// cmd/sealctl is a thin main around Run; tests drive NewRootCommand in-process.
package sealctl
