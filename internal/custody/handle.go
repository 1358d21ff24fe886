package custody

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// Handle names a key on a PKCS#11 token in the state: an RFC 7512 URI with the key's CKA_ID
// and CKA_LABEL, e.g. pkcs11:object=seal-ca-1a2b3c4d;id=%1A%2B... It is not secret.
type Handle struct {
	ID    []byte
	Label string
}

// maxHandle bounds a stored handle.
const maxHandle = 512

// String is the handle's URI.
func (h Handle) String() string {
	var id strings.Builder
	for _, b := range h.ID {
		fmt.Fprintf(&id, "%%%02X", b)
	}
	return handlePrefix + "object=" + url.PathEscape(h.Label) + ";id=" + id.String()
}

// ParseHandle reads a handle written by String: a pkcs11: URI with an id (1 to 64 bytes,
// percent-encoded) and optionally an object label; other attributes are refused.
func ParseHandle(s string) (Handle, error) {
	var h Handle
	rest, ok := strings.CutPrefix(s, handlePrefix)
	if !ok || len(s) > maxHandle {
		return h, fmt.Errorf("custody: %q is not a pkcs11: key handle", trim(s))
	}
	for _, attr := range strings.Split(rest, ";") {
		k, v, ok := strings.Cut(attr, "=")
		if !ok {
			return h, fmt.Errorf("custody: key handle attribute %q has no value", trim(attr))
		}
		switch k {
		case "id":
			if h.ID != nil || len(v)%3 != 0 {
				return h, fmt.Errorf("custody: key handle id %q: want one id of %%XX bytes", trim(v))
			}
			id := make([]byte, 0, len(v)/3)
			for i := 0; i < len(v); i += 3 {
				b, err := hex.DecodeString(v[i+1 : i+3])
				if v[i] != '%' || err != nil {
					return h, fmt.Errorf("custody: key handle id %q: want %%XX bytes", trim(v))
				}
				id = append(id, b[0])
			}
			h.ID = id
		case "object":
			l, err := url.PathUnescape(v)
			if err != nil || h.Label != "" {
				return h, fmt.Errorf("custody: key handle object %q: bad or repeated", trim(v))
			}
			h.Label = l
		default:
			return h, fmt.Errorf("custody: key handle attribute %q: want id and object only", trim(k))
		}
	}
	if len(h.ID) == 0 || len(h.ID) > 64 {
		return h, fmt.Errorf("custody: key handle %q: want an id of 1 to 64 bytes", trim(s))
	}
	return h, nil
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
