package alipaysim

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
	"net/url"
	"slices"
	"strings"
	"sync"
)

type devKeySet struct {
	appPub *rsa.PublicKey
	alipay *rsa.PrivateKey
}

var (
	devKeysOnce sync.Once
	devKeysVal  devKeySet
)

// loadDevKeys parses the development PEMs of devkeys.go once. They are constants, so a
// failure is a bug in this package.
func loadDevKeys() devKeySet {
	devKeysOnce.Do(func() {
		pub, err := ParsePublicKeyPEM(DevAppPublicKeyPEM)
		if err != nil {
			panic("alipaysim: DevAppPublicKeyPEM: " + err.Error())
		}
		priv, err := ParsePrivateKeyPEM(DevAlipayPrivateKeyPEM)
		if err != nil {
			panic("alipaysim: DevAlipayPrivateKeyPEM: " + err.Error())
		}
		devKeysVal = devKeySet{appPub: pub, alipay: priv}
	})
	return devKeysVal
}

var (
	strangerOnce sync.Once
	strangerKey  *rsa.PrivateKey
)

// stranger returns an RSA key nobody trusts, for forged notifications with a bad
// signature.
func stranger() *rsa.PrivateKey {
	strangerOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("alipaysim: generate RSA key: " + err.Error())
		}
		strangerKey = k
	})
	return strangerKey
}

// ParsePrivateKeyPEM reads an RSA private key in PKCS#8 ("PRIVATE KEY") or PKCS#1
// ("RSA PRIVATE KEY") PEM form, for Config.AlipayKey.
func ParsePrivateKeyPEM(s string) (*rsa.PrivateKey, error) {
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

// ParsePublicKeyPEM reads an RSA public key in PKIX ("PUBLIC KEY") or PKCS#1
// ("RSA PUBLIC KEY") PEM form, for Config.AppPublicKey.
func ParsePublicKeyPEM(s string) (*rsa.PublicKey, error) {
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

// signRSA2 is base64(RSA PKCS#1 v1.5 over SHA-256(msg)): sign_type RSA2 ("SHA256WithRSA",
// https://opendocs.alipay.com/common/02kf5q).
func signRSA2(key *rsa.PrivateKey, msg []byte) string {
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil { // only for a broken key
		return ""
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func verifyRSA2(pub *rsa.PublicKey, msg []byte, sigB64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return errors.New("sign is not base64")
	}
	sum := sha256.Sum256(msg)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// requestSignContent is the string a request is signed over: every parameter but sign,
// empty values left out, sorted by name, name=value joined with &, values not
// URL-encoded ("筛选并排序: 获取所有请求参数，不包括字节类型参数，如文件、字节流，剔除 sign 字段，
// 剔除值为空的参数，并按照第一个字符的键值 ASCII 码递增排序"; sign_type is signed,
// https://opendocs.alipay.com/common/02kf5q). smartwalle's URLValues signs exactly this.
func requestSignContent(params url.Values) string {
	return signContent(params, true, "sign")
}

// notifySignContent is the string a notification or synchronous return is signed over:
// every parameter but sign and sign_type, empty ones included, sorted by name ("在通知返回参数列表中，除去 sign、
// sign_type 两个参数外，凡是通知返回回来的参数皆是待验签的参数", https://opendocs.alipay.com/common/02mse7
// and https://opendocs.alipay.com/open/203/105286). smartwalle's VerifySign checks it,
// ignoring sign, sign_type and alipay_cert_sn.
func notifySignContent(params url.Values) string {
	return signContent(params, false, "sign", "sign_type")
}

func signContent(params url.Values, dropEmpty bool, skip ...string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range params[k] {
			if v == "" && dropEmpty {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(k + "=" + v)
		}
	}
	return b.String()
}
