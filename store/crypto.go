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
// A pending challenge's secret (an SMS code) is sealed the same way, with
// the associated data
//
//	kakunin/v1/challenge/<state>/secret
//
// The state is the challenge's key and the only variable part, so the
// string is unambiguous whatever the state holds, and a ciphertext copied
// to another challenge does not decrypt. Every challenge is sealed, an
// empty secret too, so an emptied column is caught like an altered one.
// challenges.key_id names the key; Rekey leaves challenges alone, as they
// expire within minutes.
//
// A key used with random nonces should seal fewer than 2^32 messages. At
// three fields per enrolled method and one per challenge (per login), that
// is more than ten years at a million logins a day: rotating the key (a new
// current key, then rekey) resets the count.

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

func challengeAD(state string) []byte {
	return []byte("kakunin/v1/challenge/" + state + "/" + fieldSecret)
}

// legacyChallengeKind is the kind of a challenge row written before
// migration 0002, which has no key id and no secret.
const legacyChallengeKind = "totp"

// sealChallenge encrypts the secret of c with the current key.
func (kr *keyring) sealChallenge(c *Challenge) (ct []byte, keyID string) {
	return kr.aeads[kr.current].Seal(nil, nil, c.Secret, challengeAD(c.State)), kr.current
}

// openChallenge decrypts the secret of a stored challenge into c, whose
// State, UserID and Kind are set. Errors wrap ErrDecrypt and name the user
// and key id, never the state or the secret.
func (kr *keyring) openChallenge(c *Challenge, keyID string, ct []byte) error {
	if keyID == "" && len(ct) == 0 && c.Kind == legacyChallengeKind {
		// Written by a node not yet upgraded to migration 0002 (the
		// column defaults): a TOTP challenge, which checks no secret.
		// Altering an SMS challenge into this shape gains nothing: it
		// then wants a code from the user's TOTP app.
		c.Secret = nil
		return nil
	}
	aead, ok := kr.aeads[keyID]
	if !ok {
		return fmt.Errorf("%w: secret of a challenge for user %q was encrypted with key %q, which is not in encryption.keys",
			ErrDecrypt, c.UserID, keyID)
	}
	pt, err := aead.Open(nil, nil, ct, challengeAD(c.State))
	if err != nil {
		return fmt.Errorf("%w: secret of a challenge for user %q does not authenticate under key %q (different key material under that id, or the row was altered or copied from another challenge)",
			ErrDecrypt, c.UserID, keyID)
	}
	if len(pt) == 0 {
		pt = nil
	}
	c.Secret = pt
	return nil
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
