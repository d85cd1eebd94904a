package store

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// Encryption at rest.
//
// Each secret field of a method is sealed on its own with AES-256-GCM and a
// random 96-bit nonce (stored as nonce || ciphertext || tag). The associated
// data names the row and the field,
//
//	kakunin/v1/method/<user_id>/<method_id>/<field>
//
// so a ciphertext copied into another row, another user or another column
// does not decrypt. Method IDs cannot contain '/', which keeps that string
// unambiguous whatever the user ID holds. The methods.key_id column names
// the key a row was sealed with: rows are read with their own key and
// written with the current one, which is what makes rotation possible.
//
// A key used with random nonces must seal fewer than 2^32 messages; at three
// fields per enrolled method that is far beyond any directory's size.

// Field names, part of the associated data and so of the stored format.
const (
	fieldSecret    = "secret"
	fieldPhone     = "phone"
	fieldExtension = "extension"
)

// keyring holds the configured keys.
type keyring struct {
	aeads   map[string]cipher.AEAD
	current string
}

// newKeyring builds the keys of a validated configuration.
func newKeyring(enc Encryption) (*keyring, error) {
	kr := &keyring{aeads: make(map[string]cipher.AEAD, len(enc.Keys)), current: enc.Current}
	if kr.current == "" && len(enc.Keys) > 0 {
		kr.current = enc.Keys[0].ID
	}
	for i, k := range enc.Keys {
		raw, err := decodeKey(k.Key.Value())
		if err != nil {
			return nil, fmt.Errorf("encryption.keys[%d].key: %w", i, err)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("encryption.keys[%d].key: %w", i, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("encryption.keys[%d].key: %w", i, err)
		}
		kr.aeads[k.ID] = aead
	}
	if _, ok := kr.aeads[kr.current]; !ok {
		return nil, fmt.Errorf("encryption.current: no key with id %q in encryption.keys", kr.current)
	}
	return kr, nil
}

func methodAD(userID, methodID, field string) []byte {
	return []byte("kakunin/v1/method/" + userID + "/" + methodID + "/" + field)
}

// seal encrypts one field of a method with the current key.
func (kr *keyring) seal(userID, methodID, field string, plaintext []byte) []byte {
	return kr.aeads[kr.current].Seal(nil, nil, plaintext, methodAD(userID, methodID, field))
}

// open decrypts one field of a method with the key the row names. Errors
// wrap ErrDecrypt and name the method, field and key id, never the data.
func (kr *keyring) open(keyID, userID, methodID, field string, ciphertext []byte) ([]byte, error) {
	aead, ok := kr.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: method %s of user %q was encrypted with key %q, which is not in encryption.keys (keep a retired key configured until rekey has run)",
			ErrDecrypt, methodID, userID, keyID)
	}
	pt, err := aead.Open(nil, nil, ciphertext, methodAD(userID, methodID, field))
	if err != nil {
		return nil, fmt.Errorf("%w: %s of method %s of user %q does not authenticate under key %q (different key material under that id, or the row was altered or copied from another row)",
			ErrDecrypt, field, methodID, userID, keyID)
	}
	return pt, nil
}

// sealedMethod is the encrypted form of a method's secret fields, as stored.
type sealedMethod struct {
	secret, phone, extension []byte
	keyID                    string
}

// sealMethod encrypts the secret fields of m with the current key. Empty
// fields are sealed too, so every row authenticates all three columns.
func (kr *keyring) sealMethod(m *Method) sealedMethod {
	return sealedMethod{
		secret:    kr.seal(m.UserID, m.ID, fieldSecret, m.Secret),
		phone:     kr.seal(m.UserID, m.ID, fieldPhone, []byte(m.Phone)),
		extension: kr.seal(m.UserID, m.ID, fieldExtension, []byte(m.Extension)),
		keyID:     kr.current,
	}
}

// openMethod decrypts the secret fields of a stored method into m, whose
// ID and UserID are set.
func (kr *keyring) openMethod(m *Method, s sealedMethod) error {
	secret, err := kr.open(s.keyID, m.UserID, m.ID, fieldSecret, s.secret)
	if err != nil {
		return err
	}
	phone, err := kr.open(s.keyID, m.UserID, m.ID, fieldPhone, s.phone)
	if err != nil {
		return err
	}
	ext, err := kr.open(s.keyID, m.UserID, m.ID, fieldExtension, s.extension)
	if err != nil {
		return err
	}
	if len(secret) == 0 {
		secret = nil
	}
	m.Secret, m.Phone, m.Extension = secret, string(phone), string(ext)
	return nil
}

// reseal re-encrypts a stored method with the current key (rekey).
func (kr *keyring) reseal(userID, methodID string, s sealedMethod) (sealedMethod, error) {
	m := Method{ID: methodID, UserID: userID}
	if err := kr.openMethod(&m, s); err != nil {
		return sealedMethod{}, err
	}
	return kr.sealMethod(&m), nil
}
