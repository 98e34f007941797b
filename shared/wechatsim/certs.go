package wechatsim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

// What signs v3 answers and notifications (Config.Signing, POST /signing).
const (
	SignPublicKey   = "public_key"  // the WeChat Pay public key, Wechatpay-Serial PUB_KEY_ID_…
	SignCertificate = "certificate" // the platform certificate, Wechatpay-Serial its serial number
)

// signer is the key that signs now and the serial that names it.
func (s *Simulator) signer() (*rsa.PrivateKey, string) {
	if s.signing.Load() == SignCertificate {
		return s.cfg.PlatformCertKey, s.cfg.PlatformCertSerial
	}
	return s.cfg.PlatformKey, s.cfg.PublicKeyID
}

// Signing reports what signs v3 answers and notifications now.
func (s *Simulator) Signing() string { return s.signing.Load().(string) }

// SetSigning switches what signs v3 answers and notifications, as WeChat
// Pay does when it moves a merchant from platform certificates to the
// public key.
func (s *Simulator) SetSigning(mode string) bool {
	if mode != SignPublicKey && mode != SignCertificate {
		return false
	}
	s.signing.Store(mode)
	return true
}

// v3Certificates answers GET /v3/certificates: the platform certificates,
// each encrypted with the APIv3 key (AEAD_AES_256_GCM, associated data
// "certificate"), the answer signed with the platform certificate itself.
// https://pay.weixin.qq.com/doc/v3/merchant/4012551764
func (s *Simulator) v3Certificates(_ *http.Request, _ []byte) (v3Reply, func()) {
	nonce := randString(alnum, 12)
	var ct []byte
	if block, err := aes.NewCipher([]byte(s.cfg.APIv3Key)); err == nil {
		if gcm, err := cipher.NewGCM(block); err == nil {
			ct = gcm.Seal(nil, []byte(nonce), []byte(s.cfg.PlatformCertPEM), []byte("certificate"))
		}
	}
	rfc := func(t time.Time) string { return t.In(s.loc).Format(time.RFC3339) }
	body := map[string]any{"data": []map[string]any{{
		"serial_no":      s.cfg.PlatformCertSerial,
		"effective_time": rfc(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		"expire_time":    rfc(time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)),
		"encrypt_certificate": map[string]string{
			"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
			"ciphertext": base64.StdEncoding.EncodeToString(ct),
		},
	}}}
	return v3Reply{status: http.StatusOK, body: body, byCert: true}, nil
}

// handleSigning is POST /signing {"mode"} and GET /signing: what signs now.
func (s *Simulator) handleSigning(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req struct {
			Mode string `json:"mode"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err != nil || !s.SetSigning(req.Mode) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mode must be " + SignPublicKey + " or " + SignCertificate})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"mode": s.Signing(), "public_key_id": s.cfg.PublicKeyID, "certificate_serial": s.cfg.PlatformCertSerial})
}
