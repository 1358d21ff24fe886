package keyprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The keyprovider protocol's JSON, as ocicrypt's keywrap/keyprovider package writes and reads
// it. The encrypt and decrypt configs are passed through and not used.
type (
	// Input is one request.
	Input struct {
		Op              string          `json:"op"`
		KeyWrapParams   json.RawMessage `json:"keywrapparams,omitempty"`
		KeyUnwrapParams UnwrapParams    `json:"keyunwrapparams,omitempty"`
	}
	// UnwrapParams are a keyunwrap's parameters.
	UnwrapParams struct {
		DC         json.RawMessage `json:"dc,omitempty"`
		Annotation []byte          `json:"annotation"`
	}
	// Output is one answer.
	Output struct {
		KeyUnwrapResults UnwrapResults `json:"keyunwrapresults"`
	}
	// UnwrapResults carry the layer's ocicrypt options.
	UnwrapResults struct {
		OptsData []byte `json:"optsdata"`
	}
)

// ErrInput is a request this provider does not understand.
var ErrInput = errors.New("keyprovider: bad request")

// maxInput bounds a request on stdin.
const maxInput = 64 << 10

// ParseInput reads one keyunwrap request and returns its annotation.
func ParseInput(r io.Reader) (*Annotation, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading stdin: %v", ErrInput, err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInput, maxInput)
	}
	var in Input
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%w: not the keyprovider protocol's JSON: %v", ErrInput, err)
	}
	switch in.Op {
	case "keyunwrap":
	case "keywrap":
		return nil, fmt.Errorf("%w: seal-keyprovider only unwraps; encrypt images with sealctl image seal --encrypt", ErrInput)
	default:
		return nil, fmt.Errorf("%w: op %q (want keyunwrap)", ErrInput, clip(in.Op))
	}
	return ParseAnnotation(in.KeyUnwrapParams.Annotation)
}

// KeySource gets the image key an annotation names (the ROT, after attestation).
type KeySource interface {
	ImageKey(ctx context.Context, a *Annotation) ([]byte, error)
}

// Serve answers one request from in on out.
func Serve(ctx context.Context, in io.Reader, out io.Writer, keys KeySource) error {
	a, err := ParseInput(in)
	if err != nil {
		return err
	}
	key, err := keys.ImageKey(ctx, a)
	if err != nil {
		return err
	}
	opts, err := a.Open(key)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(Output{KeyUnwrapResults: UnwrapResults{OptsData: opts}})
}
