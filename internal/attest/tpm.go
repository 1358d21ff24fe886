package attest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"

	"github.com/seal-dev/seal/internal/rotapi"
)

// DefaultAKHandle is the persistent handle seal-init keeps its attestation key at.
const DefaultAKHandle = 0x81010002

// DefaultDevice is the kernel's TPM resource manager.
const DefaultDevice = "/dev/tpmrm0"

// OpenTPM opens a TPM: a device path (/dev/tpmrm0) or "tcp:HOST:PORT", a TPM (swtpm socket
// mode, a TPM simulator behind a raw-command proxy) speaking TPM 2.0 commands over TCP.
func OpenTPM(spec string) (transport.TPMCloser, error) {
	if addr, ok := strings.CutPrefix(spec, "tcp:"); ok {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("attest: connecting to the TPM at %s: %w", addr, err)
		}
		return &tcpTPM{c: c}, nil
	}
	t, err := linuxtpm.Open(spec)
	if err != nil {
		return nil, fmt.Errorf("attest: opening the TPM %s: %w (mount the node's TPM into the pod: seal.dev/attest: tpm2)", spec, err)
	}
	return t, nil
}

// tcpTPM frames raw TPM 2.0 commands over a stream: the response's own header says its size.
type tcpTPM struct {
	mu sync.Mutex
	c  net.Conn
}

const maxResponse = 64 << 10

func (t *tcpTPM) Send(cmd []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := t.c.Write(cmd); err != nil {
		return nil, fmt.Errorf("attest: sending to the TPM: %w", err)
	}
	hdr := make([]byte, 10) // tag, size, response code
	if _, err := io.ReadFull(t.c, hdr); err != nil {
		return nil, fmt.Errorf("attest: reading from the TPM: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[2:6])
	if n < 10 || n > maxResponse {
		return nil, fmt.Errorf("attest: TPM response of %d bytes", n)
	}
	rsp := make([]byte, n)
	copy(rsp, hdr)
	if _, err := io.ReadFull(t.c, rsp[10:]); err != nil {
		return nil, fmt.Errorf("attest: reading from the TPM: %w", err)
	}
	return rsp, nil
}

func (t *tcpTPM) Close() error { return t.c.Close() }

// akTemplate is a restricted ECC P-256 signing key (ECDSA SHA-256) created inside the TPM: it
// signs only TPM-generated structures such as quotes.
var akTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM:            true,
		FixedParent:         true,
		SensitiveDataOrigin: true,
		UserWithAuth:        true,
		NoDA:                true,
		Restricted:          true,
		SignEncrypt:         true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		Scheme: tpm2.TPMTECCScheme{
			Scheme:  tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
		},
		CurveID: tpm2.TPMECCNistP256,
	}),
}

// EnrollAK returns the attestation key at the persistent handle, creating it (a primary key
// of the owner hierarchy made persistent there) when the handle is empty. created says which.
// The PEM is what sealctl attestation key add registers.
func EnrollAK(t transport.TPM, handle uint32) (pubPEM string, created bool, err error) {
	if handle>>24 != 0x81 {
		return "", false, fmt.Errorf("attest: AK handle %#x is not a persistent handle (0x81xxxxxx)", handle)
	}
	h := tpm2.TPMHandle(handle)
	if rp, err := (tpm2.ReadPublic{ObjectHandle: h}).Execute(t); err == nil {
		p, err := akPEM(rp.OutPublic)
		if err != nil {
			return "", false, fmt.Errorf("attest: the key at %#x: %w", handle, err)
		}
		return p, false, nil
	} else if !isHandleMissing(err) {
		return "", false, fmt.Errorf("attest: reading the key at %#x: %w", handle, err)
	}
	// A random unique field makes the primary key a fresh one, not the one the owner seed
	// derives from the template alone (another AK enrolled elsewhere in this TPM differs).
	tmpl := akTemplate
	x := make([]byte, 32)
	if _, err := rand.Read(x); err != nil {
		return "", false, fmt.Errorf("attest: reading randomness: %w", err)
	}
	tmpl.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{X: tpm2.TPM2BECCParameter{Buffer: x}})
	cp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tmpl),
	}.Execute(t)
	if err != nil {
		return "", false, fmt.Errorf("attest: creating the attestation key: %w", err)
	}
	defer func() { _, _ = (tpm2.FlushContext{FlushHandle: cp.ObjectHandle}).Execute(t) }()
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: cp.ObjectHandle, Name: cp.Name},
		PersistentHandle: h,
	}).Execute(t); err != nil {
		return "", false, fmt.Errorf("attest: persisting the attestation key at %#x: %w", handle, err)
	}
	p, err := akPEM(cp.OutPublic)
	if err != nil {
		return "", false, err
	}
	return p, true, nil
}

func isHandleMissing(err error) bool {
	return errors.Is(err, tpm2.TPMRCHandle)
}

func akPEM(pub tpm2.TPM2BPublic) (string, error) {
	tp, err := pub.Contents()
	if err != nil {
		return "", fmt.Errorf("attest: reading the TPM public area: %w", err)
	}
	if !tp.ObjectAttributes.Restricted || !tp.ObjectAttributes.SignEncrypt || !tp.ObjectAttributes.FixedTPM {
		return "", errors.New("attest: the key there is not a restricted signing key fixed to the TPM; use another --ak-handle")
	}
	k, err := tpm2.Pub(*tp)
	if err != nil {
		return "", fmt.Errorf("attest: the key's public part: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("attest: encoding the public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

func selection(pcrs []int) tpm2.TPMLPCRSelection {
	idx := make([]uint, len(pcrs))
	for i, p := range pcrs {
		idx[i] = uint(p)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(idx...),
	}}}
}

// ReadPCRs reads SHA-256 bank PCR values (the reference values of a policy).
func ReadPCRs(t transport.TPM, pcrs []int) (map[int][]byte, error) {
	out := map[int][]byte{}
	for _, p := range pcrs {
		if p < 0 || p > MaxPCR {
			return nil, fmt.Errorf("attest: PCR %d: the indices are 0..%d", p, MaxPCR)
		}
		rsp, err := tpm2.PCRRead{PCRSelectionIn: selection([]int{p})}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("attest: reading PCR %d: %w", p, err)
		}
		if len(rsp.PCRValues.Digests) != 1 {
			return nil, fmt.Errorf("attest: the TPM has no sha256 PCR %d", p)
		}
		out[p] = rsp.PCRValues.Digests[0].Buffer
	}
	return out, nil
}

// Quote has the attestation key at handle quote the PCRs (SHA-256 bank) over nonce, and
// returns the evidence for a redemption.
func Quote(t transport.TPM, handle uint32, nonce []byte, pcrs []int) (*rotapi.Evidence, error) {
	if len(pcrs) == 0 {
		return nil, errors.New("attest: no PCRs to quote")
	}
	h := tpm2.TPMHandle(handle)
	rp, err := (tpm2.ReadPublic{ObjectHandle: h}).Execute(t)
	if err != nil {
		return nil, fmt.Errorf("attest: no attestation key at %#x (run seal-init attest enroll): %w", handle, err)
	}
	akp, err := akPEM(rp.OutPublic)
	if err != nil {
		return nil, err
	}
	q, err := tpm2.Quote{
		SignHandle:     tpm2.AuthHandle{Handle: h, Name: rp.Name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		PCRSelect:      selection(pcrs),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("attest: quoting PCRs %v: %w", pcrs, err)
	}
	vals, err := ReadPCRs(t, pcrs)
	if err != nil {
		return nil, err
	}
	hexes := map[string]string{}
	for i, v := range vals {
		hexes[strconv.Itoa(i)] = hex.EncodeToString(v)
	}
	return &rotapi.Evidence{
		Type:      rotapi.EvidenceTPM2,
		Nonce:     base64.StdEncoding.EncodeToString(nonce),
		AKPub:     akp,
		Quote:     base64.StdEncoding.EncodeToString(q.Quoted.Bytes()),
		Signature: base64.StdEncoding.EncodeToString(tpm2.Marshal(q.Signature)),
		PCRs:      map[string]map[string]string{"sha256": hexes},
	}, nil
}
