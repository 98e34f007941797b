package wechatsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
)

type devKeySet struct {
	merchantPub *rsa.PublicKey
	platform    *rsa.PrivateKey
	certKey     *rsa.PrivateKey
}

var (
	devKeysOnce sync.Once
	devKeysVal  devKeySet
)

// loadDevKeys parses the development PEMs of devkeys.go once. They are constants, so a
// failure is a bug in this package.
func loadDevKeys() devKeySet {
	devKeysOnce.Do(func() {
		pub, err := parsePublicKeyPEM(DevMerchantPublicKeyPEM)
		if err != nil {
			panic("wechatsim: DevMerchantPublicKeyPEM: " + err.Error())
		}
		priv, err := parsePrivateKeyPEM(DevPlatformPrivateKeyPEM)
		if err != nil {
			panic("wechatsim: DevPlatformPrivateKeyPEM: " + err.Error())
		}
		certKey, err := parsePrivateKeyPEM(DevPlatformCertPrivateKeyPEM)
		if err != nil {
			panic("wechatsim: DevPlatformCertPrivateKeyPEM: " + err.Error())
		}
		devKeysVal = devKeySet{merchantPub: pub, platform: priv, certKey: certKey}
	})
	return devKeysVal
}

var (
	strangerOnce sync.Once
	strangerKey  *rsa.PrivateKey
)

// stranger returns an RSA key nobody trusts, for notifications with a bad signature.
func stranger() *rsa.PrivateKey {
	strangerOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("wechatsim: generate RSA key: " + err.Error())
		}
		strangerKey = k
	})
	return strangerKey
}

// parsePrivateKeyPEM reads an RSA private key in PKCS#1 ("RSA PRIVATE KEY") or PKCS#8
// ("PRIVATE KEY") PEM form.
func parsePrivateKeyPEM(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PKCS#8 key is a %T, not RSA", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block type %q is not an RSA private key", block.Type)
}

// parsePublicKeyPEM reads an RSA public key in PKIX ("PUBLIC KEY") or PKCS#1
// ("RSA PUBLIC KEY") PEM form.
func parsePublicKeyPEM(s string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is a %T, not RSA", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block type %q is not an RSA public key", block.Type)
}

// signSHA256 is base64(RSA PKCS#1 v1.5 over SHA-256(msg)).
func signSHA256(key *rsa.PrivateKey, msg string) string {
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil { // only for a broken key
		return ""
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func verifySHA256(pub *rsa.PublicKey, msg, sigB64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return errors.New("signature is not base64")
	}
	sum := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}
