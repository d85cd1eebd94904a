package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// recordSize is the rs of the aes128gcm header. One record holds the
	// whole message, so it only has to be at least the record's length.
	recordSize = 4096
	// headerLen is salt (16), rs (4), idlen (1) and the sender's public
	// key (65).
	headerLen = 16 + 4 + 1 + 65
	tagLen    = 16

	// MaxPayload is the longest plaintext Send takes: push services accept
	// bodies of 4096 bytes, and the header, the padding delimiter and the
	// GCM tag take 103 of them (RFC 8291 section 4).
	MaxPayload = 4096 - headerLen - 1 - tagLen
)

// encryptMessage encrypts plaintext for the browser whose keys are uaPublic
// and auth, with a fresh sender key pair and salt. Neither may ever be
// reused: the content key and nonce follow from them, and a repeated
// (key, nonce) pair breaks AES-GCM.
func encryptMessage(plaintext []byte, uaPublic *ecdh.PublicKey, auth []byte) ([]byte, error) {
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	rand.Read(salt) // never fails: crypto/rand panics rather than return short
	return encrypt(plaintext, uaPublic, auth, as, salt)
}

// encrypt is RFC 8291 section 3.4 over RFC 8188's aes128gcm, one record,
// with the sender's ephemeral key as and the salt given, so that the test
// can reproduce RFC 8291 Appendix A byte for byte.
func encrypt(plaintext []byte, uaPublic *ecdh.PublicKey, auth []byte, as *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(plaintext) > MaxPayload {
		return nil, fmt.Errorf("payload of %d bytes, at most %d", len(plaintext), MaxPayload)
	}
	if len(salt) != 16 || len(auth) != 16 {
		return nil, errors.New("salt and auth must be 16 bytes")
	}
	asPublic := as.PublicKey().Bytes()
	cek, nonce, err := deriveKeys(as, uaPublic, uaPublic.Bytes(), asPublic, auth, salt)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	body := make([]byte, headerLen, headerLen+len(plaintext)+1+tagLen)
	copy(body, salt)
	binary.BigEndian.PutUint32(body[16:], recordSize)
	body[20] = byte(len(asPublic))
	copy(body[21:], asPublic)

	// The last (and only) record ends with the delimiter 0x02 and no
	// padding. Its sequence number is 0, so its nonce is NONCE itself.
	record := append(append(make([]byte, 0, len(plaintext)+1), plaintext...), 2)
	return gcm.Seal(body, nonce, record, nil), nil
}

// deriveKeys computes the content encryption key and nonce (RFC 8291
// section 3.4) from an ECDH between priv and peer, which is the same secret
// on either side: the sender's key and the browser's public key, or the
// browser's key and the sender's public key.
//
//	ecdh_secret = ECDH(as_private, ua_public)
//	IKM   = HKDF(salt=auth_secret, ikm=ecdh_secret,
//	             info="WebPush: info\0" || ua_public || as_public, L=32)
//	CEK   = HKDF(salt=salt, ikm=IKM, info="Content-Encoding: aes128gcm\0", L=16)
//	NONCE = HKDF(salt=salt, ikm=IKM, info="Content-Encoding: nonce\0", L=12)
func deriveKeys(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, uaPublic, asPublic, auth, salt []byte) (cek, nonce []byte, err error) {
	secret, err := priv.ECDH(peer)
	if err != nil {
		return nil, nil, err
	}
	keyInfo := "WebPush: info\x00" + string(uaPublic) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, secret, auth, keyInfo, 32)
	if err != nil {
		return nil, nil, err
	}
	if cek, err = hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16); err != nil {
		return nil, nil, err
	}
	if nonce, err = hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12); err != nil {
		return nil, nil, err
	}
	return cek, nonce, nil
}
