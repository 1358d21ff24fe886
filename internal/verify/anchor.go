package verify

import (
	"fmt"
	"regexp/syntax"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// anchor makes a keyless identity regexp match the whole issuer or subject: `^(?:re)$`.
// Unanchored, `github\.com/org/` would also match `https://github.com/attacker/x?github.com/org/`.
func anchor(re string) string {
	if re == "" {
		return ""
	}
	return `^(?:` + re + `)$`
}

// UnanchoredRegExps lists the keyless identity regexps of an ImagePolicy that do not anchor
// themselves at both ends (`^…$`): Seal matches them whole, as if written `^(?:…)$`, while
// before wave 2 they matched any issuer or subject that merely contained a match. Such a policy
// keeps working, anchored; the webhook reports these in a status condition so owners can check
// that the anchored meaning is the one they want, and write the anchors to clear it.
func UnanchoredRegExps(p *sealv1.ImagePolicy) []string {
	var out []string
	for i, a := range p.Spec.Authorities {
		if a.Keyless == nil {
			continue
		}
		for j, id := range a.Keyless.Identities {
			for _, f := range []struct{ field, re string }{{"issuerRegExp", id.IssuerRegExp}, {"subjectRegExp", id.SubjectRegExp}} {
				if f.re != "" && !selfAnchored(f.re) {
					out = append(out, fmt.Sprintf("authorities[%d] (%s) identities[%d].%s %q", i, a.Name, j, f.field, f.re))
				}
			}
		}
	}
	return out
}

// selfAnchored reports whether re matches the same strings searched as matched whole: it can
// only match from the start of the text to its end. An invalid regexp is not (CheckPolicy
// reports it).
func selfAnchored(re string) bool {
	r, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return false
	}
	r = r.Simplify()
	return anchoredAt(r, true) && anchoredAt(r, false)
}

// anchoredAt reports whether every match of r begins at the start of the text (start) or ends at
// its end (!start).
func anchoredAt(r *syntax.Regexp, start bool) bool {
	switch r.Op {
	case syntax.OpBeginText:
		return start
	case syntax.OpEndText:
		return !start
	case syntax.OpCapture:
		return anchoredAt(r.Sub[0], start)
	case syntax.OpConcat:
		if len(r.Sub) == 0 {
			return false
		}
		if start {
			return anchoredAt(r.Sub[0], start)
		}
		return anchoredAt(r.Sub[len(r.Sub)-1], start)
	case syntax.OpAlternate:
		for _, s := range r.Sub {
			if !anchoredAt(s, start) {
				return false
			}
		}
		return len(r.Sub) > 0
	}
	return false
}
