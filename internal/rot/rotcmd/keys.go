package rotcmd

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/seal-dev/seal/internal/custody"
)

// keyFlags choose where the ROT's keys are kept (docs/key-custody.md).
type keyFlags struct {
	provider, kekFile                string
	p11Module, p11Token, p11PinFile string
}

func (k *keyFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&k.provider, "key-provider", "file", "where the CA keys live: file (in the state, sealed under --kek-file when given) or pkcs11 (generated on a PKCS#11 token, non-extractable; see docs/key-custody.md)")
	fl.StringVar(&k.kekFile, "kek-file", "", "file provider: a 32-byte key-encryption key (raw, hex or base64; chmod 600): every stored CA key, egg-sealing key and data key is encrypted under it; state in clear is sealed on the first start with it")
	fl.StringVar(&k.p11Module, "pkcs11-module", "", "pkcs11 provider: path of the token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so")
	fl.StringVar(&k.p11Token, "pkcs11-token", "", "pkcs11 provider: label of the token holding the ROT's keys")
	fl.StringVar(&k.p11PinFile, "pkcs11-pin-file", "", "pkcs11 provider: file holding the token's user PIN")
}

// open returns the key provider the flags name.
func (k *keyFlags) open() (custody.Keys, error) {
	switch k.provider {
	case "file":
		if k.p11Module != "" || k.p11Token != "" || k.p11PinFile != "" {
			return nil, usageError{fmt.Errorf("--pkcs11-* flags need --key-provider pkcs11")}
		}
		var kek []byte
		if k.kekFile != "" {
			var err error
			if kek, err = custody.ReadKEKFile(k.kekFile); err != nil {
				return nil, err
			}
		}
		return custody.NewFile(kek, nil)
	case "pkcs11":
		if k.kekFile != "" {
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
