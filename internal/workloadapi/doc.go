// Package workloadapi serves the SPIFFE Workload API (the SpiffeWorkloadAPI gRPC service of
// go-spiffe's proto package) on a Unix socket inside the pod, from the identity seal-init holds.
//
// The rotating seal-init sidecar hands each identity it writes to Server.Update; every open
// FetchX509SVID and FetchX509Bundles stream receives it at once, so SPIFFE-ready clients
// (go-spiffe's workloadapi.X509Source, Envoy through spiffe-helper, spire-agent api fetch) see a
// renewal the moment the files change. JWT-SVIDs are not minted in the pod: FetchJWTSVID,
// FetchJWTBundles and ValidateJWTSVID go to a JWTSource, which seal-init backs by the ROT.
//
// Every call must carry the "workload.spiffe.io: true" metadata header, as the SPIFFE Workload
// Endpoint specification requires; a call without it is refused with InvalidArgument.
package workloadapi
