package workloadapi

import (
	"context"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// JWTSource mints the pod's JWT-SVIDs and knows the JWT authorities. seal-init backs it by the
// ROT (POST /v1/jwt-svid, GET /v1/jwt-bundles), authenticated by the pod's certificate.
type JWTSource interface {
	// FetchJWTSVID returns a JWT-SVID (JWS compact) of the pod for these audiences.
	FetchJWTSVID(ctx context.Context, audience []string) (string, error)
	// JWTBundles returns JWKS documents by trust domain name: the pod's own and federated ones.
	JWTBundles(ctx context.Context) (map[string][]byte, error)
}

// BundleRefresh is how often an open FetchJWTBundles stream asks the JWTSource again (and sends
// when the bundles changed); an X.509 renewal also triggers a refresh.
var BundleRefresh = 5 * time.Minute

// FetchJWTSVID mints a JWT-SVID for the audiences through the JWTSource.
func (s *Server) FetchJWTSVID(ctx context.Context, req *workload.JWTSVIDRequest) (*workload.JWTSVIDResponse, error) {
	if s.JWT == nil {
		return nil, status.Error(codes.Unimplemented, "JWT-SVIDs are not served here (seal-init has no ROT to mint them)")
	}
	if len(req.GetAudience()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified")
	}
	id, _, _ := s.snapshot()
	if id == nil {
		return nil, status.Error(codes.Unavailable, ErrNoIdentity.Error())
	}
	if want := req.GetSpiffeId(); want != "" && want != id.SPIFFEID {
		return nil, status.Errorf(codes.PermissionDenied, "this pod is %s, not %s", id.SPIFFEID, want)
	}
	tok, err := s.JWT.FetchJWTSVID(ctx, req.GetAudience())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "minting a JWT-SVID: %v", err)
	}
	return &workload.JWTSVIDResponse{Svids: []*workload.JWTSVID{{SpiffeId: id.SPIFFEID, Svid: tok}}}, nil
}

// FetchJWTBundles streams the JWT bundles, and again whenever they change.
func (s *Server) FetchJWTBundles(_ *workload.JWTBundlesRequest, stream grpc.ServerStreamingServer[workload.JWTBundlesResponse]) error {
	if s.JWT == nil {
		return status.Error(codes.Unimplemented, "JWT bundles are not served here (seal-init has no ROT to ask)")
	}
	ctx := stream.Context()
	var last map[string][]byte
	for {
		_, _, changed := s.snapshot()
		b, err := s.JWT.JWTBundles(ctx)
		if err != nil && last == nil {
			return status.Errorf(codes.Unavailable, "fetching JWT bundles: %v", err)
		}
		if err == nil && !sameBundles(b, last) {
			msg := &workload.JWTBundlesResponse{Bundles: map[string][]byte{}}
			for td, doc := range b {
				msg.Bundles["spiffe://"+td] = doc
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			last = b
		}
		t := time.NewTimer(BundleRefresh)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

func sameBundles(a, b map[string][]byte) bool {
	if len(a) != len(b) || a == nil || b == nil {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}

// ValidateJWTSVID checks a JWT-SVID against the JWT bundles for the audience and returns its
// SPIFFE ID and claims.
func (s *Server) ValidateJWTSVID(ctx context.Context, req *workload.ValidateJWTSVIDRequest) (*workload.ValidateJWTSVIDResponse, error) {
	if s.JWT == nil {
		return nil, status.Error(codes.Unimplemented, "JWT-SVIDs are not served here (seal-init has no ROT to ask)")
	}
	if req.GetAudience() == "" {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified")
	}
	if req.GetSvid() == "" {
		return nil, status.Error(codes.InvalidArgument, "svid must be specified")
	}
	docs, err := s.JWT.JWTBundles(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "fetching JWT bundles: %v", err)
	}
	set, err := bundleSet(docs)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	svid, err := jwtsvid.ParseAndValidate(req.GetSvid(), set, []string{req.GetAudience()})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	claims, err := structpb.NewStruct(jsonSafe(svid.Claims))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "claims: %v", err)
	}
	return &workload.ValidateJWTSVIDResponse{SpiffeId: svid.ID.String(), Claims: claims}, nil
}

func bundleSet(docs map[string][]byte) (*jwtbundle.Set, error) {
	set := jwtbundle.NewSet()
	for name, doc := range docs {
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil {
			return nil, fmt.Errorf("workloadapi: JWT bundle of %q: %w", name, err)
		}
		b, err := jwtbundle.Parse(td, doc)
		if err != nil {
			return nil, fmt.Errorf("workloadapi: JWT bundle of %s: %w", name, err)
		}
		set.Add(b)
	}
	return set, nil
}

// jsonSafe turns go-jose's claim values (which may hold float64s, []any and time types) into
// what structpb accepts.
func jsonSafe(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		switch x := v.(type) {
		case []string:
			l := make([]any, len(x))
			for i := range x {
				l[i] = x[i]
			}
			out[k] = l
		case int64:
			out[k] = float64(x)
		case int:
			out[k] = float64(x)
		default:
			out[k] = v
		}
	}
	return out
}
