package rotcmd

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
)

// keyFlags choose where the ROT's keys are kept (docs/key-custody.md).
type keyFlags struct {
	provider, kekFile, kekPrevFile  string
	p11Module, p11Token, p11PinFile string
	upCert, upKey, upLabel          string
}

func (k *keyFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&k.provider, "key-provider", "file", "where the CA keys live: file (in the state, sealed under --kek-file when given) or pkcs11 (generated on a PKCS#11 token, non-extractable; see docs/key-custody.md)")
	fl.StringVar(&k.kekFile, "kek-file", "", "file provider: a 32-byte key-encryption key (raw, hex or base64; chmod 600): every stored CA key, egg-sealing key and data key is encrypted under it; state in clear is sealed on the first start with it")
	fl.StringVar(&k.kekPrevFile, "kek-previous-file", "", "file provider, to rotate the KEK: the KEK the state is sealed under now; with the new one in --kek-file, the first start seals everything again under the new one (then drop this flag and destroy the old KEK)")
	k.registerToken(fl, "")
}

// registerStore adds the key-provider flags of one side of seal-rot migrate: prefix is "from-"
// or "to-" (--from-kek-file, --to-key-provider, --to-pkcs11-module, ...).
func (k *keyFlags) registerStore(fl *pflag.FlagSet, prefix, side string) {
	fl.StringVar(&k.provider, prefix+"key-provider", "file", "the "+side+"'s key provider: file (keys in the state, sealed under --"+prefix+"kek-file when given) or pkcs11 (a PKCS#11 token)")
	fl.StringVar(&k.kekFile, prefix+"kek-file", "", "file provider: the "+side+"'s key-encryption key (as seal-rot serve --kek-file)")
	k.registerToken(fl, prefix)
}

func (k *keyFlags) registerToken(fl *pflag.FlagSet, prefix string) {
	fl.StringVar(&k.p11Module, prefix+"pkcs11-module", "", "pkcs11 provider: path of the token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so")
	fl.StringVar(&k.p11Token, prefix+"pkcs11-token", "", "pkcs11 provider: label of the token holding the ROT's keys")
	fl.StringVar(&k.p11PinFile, prefix+"pkcs11-pin-file", "", "pkcs11 provider: file holding the token's user PIN")
}

// registerUpstream adds the flags of an organisation's CA the ROT CA is chained to.
func (k *keyFlags) registerUpstream(fl *pflag.FlagSet) {
	fl.StringVar(&k.upCert, "upstream-ca-cert", "", "make the ROT CA an intermediate of the organisation's CA in this PEM file (its certificate, then its issuers up to the root); new ROT CAs and rotations are signed by it")
	fl.StringVar(&k.upKey, "upstream-ca-key", "", "the upstream CA's private key (PEM: PKCS#8, EC or RSA)")
	fl.StringVar(&k.upLabel, "upstream-ca-pkcs11-label", "", "with --key-provider pkcs11: the upstream CA's key is the key pair with this label on the token (instead of --upstream-ca-key); without --upstream-ca-cert its certificate is the token's certificate of that label")
}

// upstream returns the organisation's CA the flags name, or nil.
func (k *keyFlags) upstream(keys custody.Keys) (*ca.CA, error) {
	if k.upCert == "" {
		switch {
		case k.upKey != "":
			return nil, usageError{fmt.Errorf("--upstream-ca-key needs --upstream-ca-cert")}
		case k.upLabel != "":
			p, ok := keys.(*custody.PKCS11)
			if !ok {
				return nil, usageError{fmt.Errorf("--upstream-ca-pkcs11-label needs --key-provider pkcs11")}
			}
			up, err := p.FindUpstream(k.upLabel)
			if err != nil {
				return nil, fmt.Errorf("--upstream-ca-pkcs11-label %s: %w", k.upLabel, err)
			}
			return up, nil
		}
		return nil, nil
	}
	certPEM, err := readSmall(k.upCert)
	if err != nil {
		return nil, fmt.Errorf("--upstream-ca-cert: %w", err)
	}
	switch {
	case k.upKey != "" && k.upLabel == "":
		keyPEM, err := readSmall(k.upKey)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca-key: %w", err)
		}
		up, err := ca.ParseUpstream(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca-cert %s, --upstream-ca-key %s: %w", k.upCert, k.upKey, err)
		}
		return up, nil
	case k.upLabel != "" && k.upKey == "":
		p, ok := keys.(*custody.PKCS11)
		if !ok {
			return nil, usageError{fmt.Errorf("--upstream-ca-pkcs11-label needs --key-provider pkcs11")}
		}
		certs, err := ca.ParseCerts(certPEM)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca-cert %s: %w", k.upCert, err)
		}
		key, err := p.FindLabel(k.upLabel)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca-pkcs11-label: %w", err)
		}
		up, err := ca.NewUpstream(certs, key)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca-cert %s, --upstream-ca-pkcs11-label %s: %w", k.upCert, k.upLabel, err)
		}
		return up, nil
	}
	return nil, usageError{fmt.Errorf("--upstream-ca-cert needs exactly one of --upstream-ca-key and --upstream-ca-pkcs11-label")}
}

// readSmall reads a PEM file of at most 1 MiB.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%s is larger than 1 MiB", path)
	}
	return b, nil
}

// open returns the key provider the flags name.
func (k *keyFlags) open() (custody.Keys, error) {
	switch k.provider {
	case "file":
		if k.p11Module != "" || k.p11Token != "" || k.p11PinFile != "" {
			return nil, usageError{fmt.Errorf("--pkcs11-* flags need --key-provider pkcs11")}
		}
		var kek []byte
		var prev [][]byte
		if k.kekFile != "" {
			var err error
			if kek, err = custody.ReadKEKFile(k.kekFile); err != nil {
				return nil, err
			}
		}
		if k.kekPrevFile != "" {
			if kek == nil {
				return nil, usageError{fmt.Errorf("--kek-previous-file needs --kek-file (the new KEK)")}
			}
			p, err := custody.ReadKEKFile(k.kekPrevFile)
			if err != nil {
				return nil, fmt.Errorf("--kek-previous-file: %w", err)
			}
			prev = append(prev, p)
		}
		return custody.NewFile(kek, nil, prev...)
	case "pkcs11":
		if k.kekFile != "" || k.kekPrevFile != "" {
			return nil, usageError{fmt.Errorf("--kek-file is for --key-provider file; with pkcs11 the token's wrapping key seals the stored secrets")}
		}
		if k.p11Module == "" || k.p11Token == "" || k.p11PinFile == "" {
			return nil, usageError{fmt.Errorf("--key-provider pkcs11 needs --pkcs11-module, --pkcs11-token and --pkcs11-pin-file")}
		}
		pin, err := custody.ReadPINFile(k.p11PinFile)
		if err != nil {
			return nil, err
		}
		return custody.OpenPKCS11(custody.PKCS11Config{Module: k.p11Module, Token: k.p11Token, PIN: pin})
	}
	return nil, usageError{fmt.Errorf("--key-provider %q: want file or pkcs11", k.provider)}
}
