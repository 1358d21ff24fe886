package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"

	"github.com/seal-dev/seal/internal/rotapi"
)

// TPM2 verifies TPM 2.0 quotes.
type TPM2 struct{}

// TPM2Quote is parsed TPM 2.0 evidence: nothing in it is checked yet but its form.
type TPM2Quote struct {
	AK        crypto.PublicKey
	Attest    *tpm2.TPMSAttest
	Info      *tpm2.TPMSQuoteInfo
	Raw       []byte // the TPMS_ATTEST bytes the signature is over
	Signature *tpm2.TPMTSignature
	// Selected are the quoted PCR indices (SHA-256 bank), ascending.
	Selected []int
	// PCRs are the reported SHA-256 values by index.
	PCRs map[int][]byte
}

// ParseTPM2 reads TPM 2.0 evidence; every error wraps ErrMalformed. It checks only the form.
func ParseTPM2(ev *rotapi.Evidence) (*TPM2Quote, error) {
	ak, err := ParseAKPub(ev.AKPub)
	if err != nil {
		return nil, fmt.Errorf("%w: akPub: %v", ErrMalformed, err)
	}
	raw, err := base64.StdEncoding.DecodeString(ev.Quote)
	if err != nil {
		return nil, fmt.Errorf("%w: quote is not base64", ErrMalformed)
	}
	att, err := tpm2.Unmarshal[tpm2.TPMSAttest](raw)
	if err != nil {
		return nil, fmt.Errorf("%w: TPMS_ATTEST: %v", ErrMalformed, err)
	}
	if att.Magic != tpm2.TPMGeneratedValue || att.Type != tpm2.TPMSTAttestQuote {
		return nil, fmt.Errorf("%w: not a TPM-generated quote (magic %#x, type %#x)", ErrMalformed, uint32(att.Magic), uint16(att.Type))
	}
	info, err := att.Attested.Quote()
	if err != nil {
		return nil, fmt.Errorf("%w: TPMS_QUOTE_INFO: %v", ErrMalformed, err)
	}
	if !bytes.Equal(tpm2.Marshal(*att), raw) {
		return nil, fmt.Errorf("%w: TPMS_ATTEST has trailing or non-canonical bytes", ErrMalformed)
	}
	sigRaw, err := base64.StdEncoding.DecodeString(ev.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64", ErrMalformed)
	}
	sig, err := tpm2.Unmarshal[tpm2.TPMTSignature](sigRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: TPMT_SIGNATURE: %v", ErrMalformed, err)
	}
	q := &TPM2Quote{AK: ak, Attest: att, Info: info, Raw: raw, Signature: sig, PCRs: map[int][]byte{}}
	if n := len(info.PCRSelect.PCRSelections); n != 1 || info.PCRSelect.PCRSelections[0].Hash != tpm2.TPMAlgSHA256 {
		return nil, fmt.Errorf("%w: the quote must select PCRs of the sha256 bank only", ErrMalformed)
	}
	for i, b := range info.PCRSelect.PCRSelections[0].PCRSelect {
		for bit := range 8 {
			if b&(1<<bit) == 0 {
				continue
			}
			if idx := i*8 + bit; idx <= MaxPCR {
				q.Selected = append(q.Selected, idx)
			} else {
				return nil, fmt.Errorf("%w: PCR %d selected (the highest is %d)", ErrMalformed, idx, MaxPCR)
			}
		}
	}
	for bank, vals := range ev.PCRs {
		if bank != "sha256" {
			return nil, fmt.Errorf("%w: PCR bank %q (only sha256 is quoted)", ErrMalformed, bank)
		}
		for k, v := range vals {
			i, err := ParsePCRIndex(k)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("%w: PCR %d value is not 64 hex digits", ErrMalformed, i)
			}
			q.PCRs[i] = b
		}
	}
	return q, nil
}

// Verify implements Verifier.
func (TPM2) Verify(ev *rotapi.Evidence, nonce []byte, keys *KeySet, p *Policy) error {
	q, err := ParseTPM2(ev)
	if err != nil {
		return err
	}
	name, ok := keys.Lookup(q.AK)
	if !ok {
		return fmt.Errorf("%w: the quote's attestation key (sha256 %s) is not registered: sealctl attestation key add NAME --ak-pub FILE",
			ErrUnknownAK, Fingerprint(q.AK))
	}
	if err := verifySignature(q.AK, q.Raw, q.Signature); err != nil {
		return fmt.Errorf("%w by attestation key %q: %v", ErrBadSignature, name, err)
	}
	if subtle.ConstantTimeCompare(q.Attest.ExtraData.Buffer, nonce) != 1 {
		return fmt.Errorf("%w: extraData is not the nonce the evidence names", ErrNonceMismatch)
	}
	// The digest the TPM signed is over the selected PCRs in ascending order.
	h := sha256.New()
	for _, i := range q.Selected {
		v, ok := q.PCRs[i]
		if !ok {
			return fmt.Errorf("%w: PCR %d is quoted but its value is not reported", ErrPCRDigest, i)
		}
		h.Write(v)
	}
	if len(q.PCRs) != len(q.Selected) {
		return fmt.Errorf("%w: PCR values reported that the quote does not cover", ErrPCRDigest)
	}
	if !bytes.Equal(h.Sum(nil), q.Info.PCRDigest.Buffer) {
		return fmt.Errorf("%w: the reported PCR values are not the ones the TPM quoted", ErrPCRDigest)
	}
	for _, i := range p.Indices() {
		got, ok := q.PCRs[i]
		if !ok {
			return fmt.Errorf("%w: PCR %d is not quoted (policy %q checks PCRs %v)", ErrPCRMismatch, i, p.Name, p.Indices())
		}
		if !bytes.Equal(got, p.PCRs[i]) {
			return fmt.Errorf("%w: PCR %d mismatch: the machine has %x, policy %q wants %x", ErrPCRMismatch, i, got, p.Name, p.PCRs[i])
		}
	}
	return nil
}

func verifySignature(ak crypto.PublicKey, msg []byte, sig *tpm2.TPMTSignature) error {
	switch pub := ak.(type) {
	case *ecdsa.PublicKey:
		s, err := sig.Signature.ECDSA()
		if err != nil || sig.SigAlg != tpm2.TPMAlgECDSA {
			return fmt.Errorf("an ECDSA key, but a signature of algorithm %#x", uint16(sig.SigAlg))
		}
		if s.Hash != tpm2.TPMAlgSHA256 {
			return fmt.Errorf("hash %#x, want sha256", uint16(s.Hash))
		}
		d := sha256.Sum256(msg)
		r, ss := new(big.Int).SetBytes(s.SignatureR.Buffer), new(big.Int).SetBytes(s.SignatureS.Buffer)
		if !ecdsa.Verify(pub, d[:], r, ss) {
			return fmt.Errorf("ECDSA signature does not verify over the quote")
		}
		return nil
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		switch sig.SigAlg {
		case tpm2.TPMAlgRSASSA:
			s, err := sig.Signature.RSASSA()
			if err != nil || s.Hash != tpm2.TPMAlgSHA256 {
				return fmt.Errorf("RSASSA signature without sha256")
			}
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], s.Sig.Buffer)
		case tpm2.TPMAlgRSAPSS:
			s, err := sig.Signature.RSAPSS()
			if err != nil || s.Hash != tpm2.TPMAlgSHA256 {
				return fmt.Errorf("RSAPSS signature without sha256")
			}
			return rsa.VerifyPSS(pub, crypto.SHA256, d[:], s.Sig.Buffer, nil)
		}
		return fmt.Errorf("an RSA key, but a signature of algorithm %#x", uint16(sig.SigAlg))
	}
	return fmt.Errorf("attestation keys are ECDSA or RSA, not %T", ak)
}
