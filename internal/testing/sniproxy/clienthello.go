package sniproxy

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// MaxHelloBytes bounds how much a proxy reads looking for a complete ClientHello.
const MaxHelloBytes = 64 << 10

// ErrNoSNI is returned for a well-formed ClientHello without a server_name extension.
var ErrNoSNI = errors.New("sniproxy: ClientHello has no server name")

// ReadClientHello reads TLS records from r until it holds a complete ClientHello and returns
// the SNI host name and every byte read (to be forwarded unchanged). The ClientHello may span
// several records.
func ReadClientHello(r io.Reader) (host string, raw []byte, err error) {
	var msg []byte // handshake message bytes, across records
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return "", raw, fmt.Errorf("sniproxy: reading TLS record header: %w", err)
		}
		raw = append(raw, hdr...)
		if hdr[0] != 0x16 {
			return "", raw, fmt.Errorf("sniproxy: record type %d, want handshake (22)", hdr[0])
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > 1<<14 {
			return "", raw, fmt.Errorf("sniproxy: record length %d out of range", n)
		}
		if len(raw)+n > MaxHelloBytes {
			return "", raw, fmt.Errorf("sniproxy: ClientHello longer than %d bytes", MaxHelloBytes)
		}
		start := len(raw)
		raw = append(raw, make([]byte, n)...)
		if k, err := io.ReadFull(r, raw[start:]); err != nil {
			return "", raw[:start+k], fmt.Errorf("sniproxy: reading TLS record: %w", err)
		}
		msg = append(msg, raw[start:]...)
		if len(msg) < 4 {
			continue
		}
		if msg[0] != 1 {
			return "", raw, fmt.Errorf("sniproxy: handshake type %d, want ClientHello (1)", msg[0])
		}
		want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
		if len(msg) >= want {
			host, err := ServerName(msg[:want])
			return host, raw, err
		}
	}
}

// ServerName returns the host_name in the server_name extension of a ClientHello handshake
// message (type, 3-byte length, body).
func ServerName(msg []byte) (string, error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || typ != 1 || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return "", errors.New("sniproxy: not a ClientHello message")
	}
	var sessionID, suites, compression, exts cryptobyte.String
	if !body.Skip(2+32) || // legacy_version, random
		!body.ReadUint8LengthPrefixed(&sessionID) ||
		!body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&compression) {
		return "", errors.New("sniproxy: malformed ClientHello")
	}
	if body.Empty() {
		return "", ErrNoSNI // no extensions at all
	}
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return "", errors.New("sniproxy: malformed ClientHello extensions")
	}
	for !exts.Empty() {
		var extType uint16
		var ext cryptobyte.String
		if !exts.ReadUint16(&extType) || !exts.ReadUint16LengthPrefixed(&ext) {
			return "", errors.New("sniproxy: malformed ClientHello extension")
		}
		if extType != 0 { // server_name
			continue
		}
		var list cryptobyte.String
		if !ext.ReadUint16LengthPrefixed(&list) || !ext.Empty() {
			return "", errors.New("sniproxy: malformed server_name extension")
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return "", errors.New("sniproxy: malformed server_name entry")
			}
			if nameType == 0 { // host_name
				if len(name) == 0 {
					return "", errors.New("sniproxy: empty server name")
				}
				return string(name), nil
			}
		}
		return "", ErrNoSNI
	}
	return "", ErrNoSNI
}
