package store

import (
	"bytes"
	"encoding/json"
)

// UnmarshalJSON decodes a WorkloadSpec strictly, as the rest of the state is decoded, but
// accepts and drops the fields releases up to v0.1.0 wrote into the spec because the record
// then was the admin API's type: dataKeyIndex and caFingerprint. Both are derived from the
// record's data keys and Workload CAs whenever they are served, so nothing is lost; the next
// write of the record leaves them out.
func (s *WorkloadSpec) UnmarshalJSON(b []byte) error {
	type plain WorkloadSpec // no UnmarshalJSON: no recursion
	var v struct {
		plain
		LegacyDataKeyIndex  json.RawMessage `json:"dataKeyIndex"`
		LegacyCAFingerprint json.RawMessage `json:"caFingerprint"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*s = WorkloadSpec(v.plain)
	return nil
}
