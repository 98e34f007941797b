package alipay_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKeys are keys and certificates made once per test binary, for the
// configuration tests: an application key in every form Alipay's tools
// give it, and a certificate-mode set (an "Alipay" root, Alipay's
// certificate and the application's, both issued by the root).
type testKeys struct {
	appKey, alipayKey, rootKey *rsa.PrivateKey

	appPKCS1PEM, appPKCS8PEM, appPKCS8Base64 string
	alipayPublicPEM, alipayPublicBase64      string

	rootCertPEM, alipayCertPEM, appCertPEM string
	strangerCertPEM                        string // certifies another key than appKey
}

var keysOnce = sync.OnceValue(func() *testKeys {
	k := &testKeys{appKey: newKey(2048), alipayKey: newKey(2048), rootKey: newKey(2048)}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.appKey)
	if err != nil {
		panic(err)
	}
	k.appPKCS1PEM = pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.appKey))
	k.appPKCS8PEM = pemText("PRIVATE KEY", pkcs8)
	k.appPKCS8Base64 = base64.StdEncoding.EncodeToString(pkcs8)
	pub, err := x509.MarshalPKIXPublicKey(&k.alipayKey.PublicKey)
	if err != nil {
		panic(err)
	}
	k.alipayPublicPEM = pemText("PUBLIC KEY", pub)
	k.alipayPublicBase64 = base64.StdEncoding.EncodeToString(pub)

	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Alipay Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &k.rootKey.PublicKey, k.rootKey)
	if err != nil {
		panic(err)
	}
	k.rootCertPEM = pemText("CERTIFICATE", rootDER)
	root, _ = x509.ParseCertificate(rootDER)
	leaf := func(serial int64, name string, key *rsa.PublicKey) string {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			SignatureAlgorithm: x509.SHA256WithRSA,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key, k.rootKey)
		if err != nil {
			panic(err)
		}
		return pemText("CERTIFICATE", der)
	}
	k.alipayCertPEM = leaf(2, "Test Alipay", &k.alipayKey.PublicKey)
	k.appCertPEM = leaf(3, "Test application", &k.appKey.PublicKey)
	k.strangerCertPEM = leaf(4, "Someone else", &k.rootKey.PublicKey)
	return k
})

func newKey(bits int) *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return key
}

func pemText(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func ecKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("PRIVATE KEY", der)
}

// pemBody is the base64 part of a PEM, the part that would leak a key.
func pemBody(pemText string) string {
	lines := strings.Split(strings.TrimSpace(pemText), "\n")
	return strings.Join(lines[1:len(lines)-1], "")
}

// secretPieces are fragments of key material, any of which in an error or
// a log line counts as a leak. PEM lines and bare base64 alike.
func secretPieces(texts ...string) []string {
	var pieces []string
	for _, text := range texts {
		for _, line := range strings.Split(strings.ReplaceAll(text, `\n`, "\n"), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "-----") {
				continue
			}
			for i := 8; i+32 <= len(line); i += 64 {
				pieces = append(pieces, line[i:i+32])
			}
		}
	}
	return pieces
}
