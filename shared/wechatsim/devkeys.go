package wechatsim

// Development credentials for the API v3 channel: a merchant key pair and a
// "WeChat Pay" platform key pair that exist only here. They let the local
// stack and the tests run the unmodified wechatpay-go SDK against the
// simulator. They are public and worthless; never use them with real WeChat Pay.
const (
	// DevMchID is the merchant number the v3 side serves by default.
	DevMchID = "1900000109"
	// DevMerchantSerial is the serial number of the development merchant certificate.
	DevMerchantSerial = "5157F09EFDC096DE15EBE81A47057A72CPDEV0001"
	// DevPublicKeyID names the simulator's WeChat Pay public key (public-key mode).
	DevPublicKeyID = "PUB_KEY_ID_0119000001092026112200000000000001"
	// DevAPIv3Key is the 32-byte APIv3 key that encrypts notification resources.
	DevAPIv3Key = "cloudpaysimulatorapiv3key0000001"
)

// DevMerchantPrivateKeyPEM is the development merchant's API private key (PKCS#8).
const DevMerchantPrivateKeyPEM = `-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDykIaQUmzznrjH
aSrqzBTf9yTIMoMrdwXuc0jFsucbEVdSO4Kuiw0lVmRwtQE+xXpz1hHzj7qqRp1U
3HlFcak+DKZX4qd06Kzw3c9T6fJUPvj/DQwwJysPUV9X17wqVe5pYzteOzB/uJ4A
w/C2azBS5hpNE3G9UXbHlyzfz5I0FK92pl7wbmP2Q4uCra2lg9BpwKkYb4eARW8b
bi1Iq/mfY9OUkC/KHfcWmZDsBVSWt83T6800tRl6rPbM/ykYaEkzloo3UzvA4idc
WTY7CZJrCFQblQae+4C+oqH4AwC3u/J4EcBKKDzZiV8nG9qpCIhFf1JG1eWFio0D
R2P5iAk5AgMBAAECggEAEz3VOtYbB/FPkZv9WE5TmpeZjpr5LkW9DfcNrwcbz5ke
zupjGbL0mkFh6tHk9SSHq/AvkN1WLqM24FAz+4cCaKZqvJ6Bb6P0cg/6Xhr5CudK
67qOfLRitU6cbFSz+7zA0pHZWAaEeKE9wWxJqELU/MJ9lB8mfuDbNgZ/PArUe3aA
EYvgDSbe3ZHNYBV4qWiS0dXRPS29DS3gOepg4ZvMR/eUTfuvmQDAdEjtF1ySMxK3
tWu2/04NPpV37/3Aa8Q6GcBmb1ZW3ovlnppykSpa+eHZ03z9zUGCkIGstuQ95TDX
drk/SCIXRTmq5+ifLAeNJgfTx8gG4o6w51Q320aPHQKBgQD9FjY5vWrCY+aN4F5T
JRUeL79g30c5lqN5vXLrTGNkJqQxftV7SRTpMyL/07JjmPV1Mp0M/Bn6B0OWTVpr
cZJuD5Tc6WP01uA5ZIE5QpRIhTWUsE/SDvVRFjH7OMrG7PhUJMWonxRqy7A8VYgX
DEvig1GTQkgCtokWu/RTByXgHQKBgQD1W06q9ynkTGS/ynmRJGxe3QQSrze7BqcF
1jO/wHHnYtFfKT3+hMkEL5kd10ETWwEOG18ae1oVT/7mrKRWwiU6tZR46TIHCiyp
+fU0jC1vzYfQma2cKCf5tj2mVmJgJ8WReEfFahVdNd+H9Y9UC7Gxzn2T5om9zHQj
PgYgt5E6zQKBgQCKeWa9/Oe26JYzNnoln/qIA7QAuunrloJnj8Ka/7a6C3J3KmCA
DiKE3dfehePrHrvengzUF/PWm7bdPAGnHAL0eU4H+SMZyZ/xhw41WDpt24TPkBB8
bHbJIQ3D2PUKFopg76W+dxviuwP4XwwRIEc87oDpw7BG27zyVXB/JUAR+QKBgQCu
nDxwD1YQ0w0gMMgzMuis2j17zpaq0yEqVjad0Cc/tGOshX1JFNa50+X0BqyZSbqG
f5Q/FGoXoMaXA2YxGBnGnlL7eXnQ6LzAetK2gswTNQHiwnt7FljcrYVSS0fXhnZk
AGWTaNurahuadnd6KJhdIcbc6sQ7/rToH8vcnMcOQQKBgQDv0eUF9fEgcUFN8rCR
7j1ypgpz4X+Om6ShFrWcc4STTumr7VDcpqDQnGqS3utsM8HQe40UWQghYDZhnmiZ
6AHpLtXAA4L+QVlPYvqNnN53rLcUPZhE0MfmnBwgZ/KoZYZDSLK0HcUpnGCzLyC4
EfrIbMkXXyTpJOW4+TK0mOB/dA==
-----END PRIVATE KEY-----
`

// DevMerchantPublicKeyPEM is the public half of DevMerchantPrivateKeyPEM; the
// simulator verifies merchant request signatures with it.
const DevMerchantPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA8pCGkFJs8564x2kq6swU
3/ckyDKDK3cF7nNIxbLnGxFXUjuCrosNJVZkcLUBPsV6c9YR84+6qkadVNx5RXGp
PgymV+KndOis8N3PU+nyVD74/w0MMCcrD1FfV9e8KlXuaWM7Xjswf7ieAMPwtmsw
UuYaTRNxvVF2x5cs38+SNBSvdqZe8G5j9kOLgq2tpYPQacCpGG+HgEVvG24tSKv5
n2PTlJAvyh33FpmQ7AVUlrfN0+vNNLUZeqz2zP8pGGhJM5aKN1M7wOInXFk2OwmS
awhUG5UGnvuAvqKh+AMAt7vyeBHASig82YlfJxvaqQiIRX9SRtXlhYqNA0dj+YgJ
OQIDAQAB
-----END PUBLIC KEY-----
`

// DevPlatformPrivateKeyPEM is the simulator's WeChat Pay platform private key:
// it signs v3 responses and notifications.
const DevPlatformPrivateKeyPEM = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC74Q3RTTGqweTp
5cT+9mCjxPqRUckoUUUC3+ZOoLGOszHZ2MbPcUulE4wli6BdUhpJn5rlhq+tZzD4
YphfwpZVGSNnwWgb4NX+nHRO5z14FPgjZa3MFwDfhES4/aBJDz2mGLlsssEoty+D
gsYE/77FK6Cv3ZLT2wuBdbH2DLV+cd7FqXWIFraW6jf6aNBKwKuqBnFJSg94BHwL
nnwDTzccJGbnSfvbF3a5+ObI6D8gQO+t7i4Dxg26gtEEcuqAQfh+EEGfdc89eozW
TKqGxJfPgeBREK7OfhwupzpKIVvgk9PEwxSFVonoW2yD4LH8weawd1dPG1B9CD29
KM1zUe8RAgMBAAECggEAAMJ/5zrm6Qp98FEaxylF2h+w389rFXSuFDBsDcd+7evT
inUCyWiE2ze28aXTOd4vQRRqLVFKcSE/0wW3phQWV/60WsYiOd7VxE2+0PaRlD4P
qoZhA3hlca7An7FjeXj17jyL6NClV19vRVRAVGYyD+ACamrZiuEIKcEitwY74fVW
gKADpafnMiBCzsxDZBLrUchwss/BEAyn0EWVdgVctidTFaqoY+7tAahYZaAyEUez
x+WLddcyPcyqvIGizhLQiEDOfzcGZB10rjmCNFLUGt/grmSNmAdVFC/ZThnzZ5Sp
qbUpYo8f3LqTNj5K1UfZxfUYSgWamWUdttCGyuwcSQKBgQDcNtjqWHV48KqocE91
Yp+8TP72mjXVjSjOmPhRN94q5PG+aW62DhopSeagNTj6MgExFx8vg7x1lj81V8aA
FQmHE5VeeDIP+XYmdVej+E/L1jB07DPi0k2LuGA8vr8956Fb89XzOiTAzrKCMCJ/
2Hvbgr8NM399igKQk4hUKolyuQKBgQDaaQeth7lW7dewUyP3mIAvCpOJBsjPigEe
mzJ8zIexIsHlL4y8BF7yBub5A+L0M3bRKROR0jWDkjR02FY+BkKapQ0hrXY2R6qq
7nqQV4KnmmHb9I/rnQTGiVP3Si0a4Ah5Ps2ZV0J50SdXs+xLVKi2GFSt+HR3KUsq
4AffEnITGQKBgD7/Abaob5KVZnyhBFoUSJXZgOaS3uukYhQX9pFlZgznSbCrAJzc
E+fT2EHkd9Q7EdQ1RRqWmQcaYCKmZYamff9CPuyzfb7MIlyGHPgvRMSPFXWdTIqK
ltxtdjpqZtMSvDpN2tqlu3Xcq3xKwNPJ3kTBdl4UaVhEbs9lJQ7OzFshAoGBAKLK
xj5Be5Ofk7SJQ7W4pVJqv6zSsbp/UnZNl0QN7tXI4lzBJFS/rUUYf+/7RZ5e/aDI
zR1TYS/AOfkdhqqUX/CENVV0xTeQE1V0i0Yq8+eY2nfnwZ4MWxLgKQWY9CWj9qzo
crZoo9PIYVqtcOJ1J4sSd4t0NNrcnHpIoZVTWlOBAoGAQKM8PEpPMXfpXIY8Itu7
lvg52JK9ohGhmHLDPCecrCNoWQ7lF0NFgXzdgvEDzvdZbpV9socIWDSS2hCtE3h6
Sb8G+21r3PMVayobIGAv0pHxkRzGRtc7fRpMiBJxmE0DtgLGiYUIj6ml3wZXR3DJ
1VGEk0lRP9IiVDv42+W6I9w=
-----END PRIVATE KEY-----
`

// DevPlatformPublicKeyPEM is the "WeChat Pay public key" a merchant configures
// to verify the simulator (identified by DevPublicKeyID).
const DevPlatformPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu+EN0U0xqsHk6eXE/vZg
o8T6kVHJKFFFAt/mTqCxjrMx2djGz3FLpROMJYugXVIaSZ+a5YavrWcw+GKYX8KW
VRkjZ8FoG+DV/px0Tuc9eBT4I2WtzBcA34REuP2gSQ89phi5bLLBKLcvg4LGBP++
xSugr92S09sLgXWx9gy1fnHexal1iBa2luo3+mjQSsCrqgZxSUoPeAR8C558A083
HCRm50n72xd2ufjmyOg/IEDvre4uA8YNuoLRBHLqgEH4fhBBn3XPPXqM1kyqhsSX
z4HgURCuzn4cLqc6SiFb4JPTxMMUhVaJ6Ftsg+Cx/MHmsHdXTxtQfQg9vSjNc1Hv
EQIDAQAB
-----END PUBLIC KEY-----
`

// The platform-certificate mode (merchants registered before WeChat Pay's
// public keys): a platform certificate with a key of its own, served
// encrypted by GET /v3/certificates. The simulator signs with it instead
// of the public key when switched to SignCertificate.
const (
	// DevPlatformCertSerial is the development platform certificate's serial number
	// (upper-case hex, as WeChat Pay writes it in Wechatpay-Serial).
	DevPlatformCertSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
)

// DevPlatformCertPrivateKeyPEM is the development platform certificate's private key (PKCS#8).
const DevPlatformCertPrivateKeyPEM = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDJsS3GIiShGWaw
VfmgWe6v7+Ua3IsKNjeMDk4KKLO/a35Y2MiDCbc4eMML1s3I3nOyDQ34SYFeQdVg
rpC1XbtHbTvlp9HTiQbUeJ4h/R++WXW03Gc4rnMTGKjQvnNnUXDsqmyS2oh5t/Z9
51vempACth+pDuAYcBaD2lw8eRP7CH/UoJ+isjCJNetu1ijVPwi22fSl/uQVCfrb
QHEZC91S6GKBaT81Z5nFhENe9oaj7S1J79LjkFF7MAbU8C7azJPMJsiVYPoPGEBn
xUJnaxj2KQgy8wYT/w1hITDyHe5hRvQEYJUX37pT0Q2/i759D/Xxf2OM/ppeglFg
HoHgKezrAgMBAAECggEACe8sLgIog7bYk/7oGLnVQ90xD62lO4+IFOHvfhibIeaN
hprG5Y1o9OMd2EtwP2CVmkOCWKRmNtpPRD/U6NoBC3eZ56nob97j8zstrsbk9V86
qPniK6yMBnjEd+Opk4EzarTKPEF/T198SJ9IqyI5zahiztTovMtokH4E5QWhsk+W
Vy6NMh8kiuEFLtN99n4zGEk+qHDnGNlQegJk74BUzmg+3LYH9eOpuIlMO5e2phja
7ddaV9G1GP1N1stQjpcMr7SdSVP3k4DAC8W313m6gYXqmXJmwc9fIGcNZpgZCKHH
OLSwIftVoHBfz4K9gtAPg+lcPfcilqLaqhzynGAjAQKBgQDLk2xuOJ8PB3rCpdic
y6FDvUyKgAhBetnZwJZOkpdL5GPwX+yja3KaEsY1TnYC6JB6+xDUyKOJHdYiQ318
j5zb+fDVwX0egp7UURn9V6ovuFQMwacR/V8aEXJCTYZCGDOy7y1bt8sRdenkQ7tS
yQ/Y4StsAYzjl+wCpfNdWv5MIQKBgQD9oZG+hpkbAH8y8s98p0ONQ3BQUcZ0Jg0h
KGUQSwiv/DuzZzSLneSIuSoq3HtC3+HZbhhlRMtmw06Q0Cq87aLth+CJWu2erwaf
b/yCgiWhm7JlIPWm/HGPuIMDIcb4C0+J2O9FiQt9vgWYhXIfw2t3yslT6RMjID9I
8MMJIku3iwKBgCUDrRdtXB5TcdKqbPQ1YiD67kvQc6/UMoARMEMhDDlUUYeHKXOd
Ob0h5MAUgAiPWJXDyI+n23Q25JReSRa41gB5NXzoLWO6xD4+cMdLhTof/chD/aib
tQr8WRYNGngyBlRmgIzIojeOhPRoDEtFG4iHiGme7osDOHpSyikTPmGBAoGBALjs
H15htqnIT/WusXc6YPdTL0VwihhPUg1V7XHWs2vUpRal7drJ8UF6d/MuNDTLFVk5
e1ICuaagSd0t2atMPBmhkyWyhUPIazS+KsZg690LryMqx9DLiGT4a5VSAEcDwCdK
YxI43Ib+kAfnbBEao3WBBg9HBav7rAibeihjt/8HAoGAJ2r1o2yJOEI03X+Ibku3
jz1XbjOLYlh3Vtd6C1QTaMH/0+HLyL6H/YJVqS2hic7UmmWYuTuExTTb6BpjwpXG
q4uj5OGOJnzTOL0C9aW5JpdTlq4R8t74aeLDDMpsXFQKcNdnqYh5tWG/IanRwHWF
8Mvb2MZUgvcfwBYIKq47SQo=
-----END PRIVATE KEY-----
`

// DevPlatformCertificatePEM is the development platform certificate (self-signed,
// valid 2025–2035).
const DevPlatformCertificatePEM = `-----BEGIN CERTIFICATE-----
MIIDPjCCAiagAwIBAgIUUVfwnv3Alt4V6+gaRwV6cjLxuOEwDQYJKoZIhvcNAQEL
BQAwTzEbMBkGA1UEChMSY2xvdWRwYXkgc2ltdWxhdG9yMTAwLgYDVQQDEydUZW5w
YXkuY29tIFJvb3QgQ0EgKGNsb3VkcGF5IHNpbXVsYXRvcikwHhcNMjUwMTAxMDAw
MDAwWhcNMzUwMTAxMDAwMDAwWjBPMRswGQYDVQQKExJjbG91ZHBheSBzaW11bGF0
b3IxMDAuBgNVBAMTJ1RlbnBheS5jb20gUm9vdCBDQSAoY2xvdWRwYXkgc2ltdWxh
dG9yKTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAMmxLcYiJKEZZrBV
+aBZ7q/v5Rrciwo2N4wOTgoos79rfljYyIMJtzh4wwvWzcjec7INDfhJgV5B1WCu
kLVdu0dtO+Wn0dOJBtR4niH9H75ZdbTcZziucxMYqNC+c2dRcOyqbJLaiHm39n3n
W96akAK2H6kO4BhwFoPaXDx5E/sIf9Sgn6KyMIk1627WKNU/CLbZ9KX+5BUJ+ttA
cRkL3VLoYoFpPzVnmcWEQ172hqPtLUnv0uOQUXswBtTwLtrMk8wmyJVg+g8YQGfF
QmdrGPYpCDLzBhP/DWEhMPId7mFG9ARglRffulPRDb+Lvn0P9fF/Y4z+ml6CUWAe
geAp7OsCAwEAAaMSMBAwDgYDVR0PAQH/BAQDAgWgMA0GCSqGSIb3DQEBCwUAA4IB
AQCAvj+xhzJmsSHZ71M+c8K+BDMZHj+ZwmtAHqHXKMgs09vPM10sMDQZoLjPeYfC
vK6L21HurG2Z34t5zZ7Ykg1jo+lY8lA4vN08bBiNHEiwEAPuoe96fJs5jFF+Lq73
dLw2o7o3U1cyHqTlq9gFh+j57YJvw+dXvQGQiLdhuwUsx6MhuJD6wwpEV69kziXa
JV2RPO/IEzDwUiQmQi7Bmet3gkZp2hMlh9TgrhXP/fG26tyexqcN/KCoSCNmykkJ
/IqGoaB4iRD/VcktSGK0CBqgO0E5mzitG9eK2zWPlpT4zOXt0mabg1GbnfHOgO7J
0jhdmQMdBa3pkU6Rv7/BGsSa
-----END CERTIFICATE-----
`

// DevKeys is what a merchant configures to talk to a simulator running on the
// development keys, as GET /sim/devkeys serves it: any SDK can be set up from it.
type DevKeys struct {
	MchID                  string `json:"mchid"`
	AppID                  string `json:"appid"`
	AppSecret              string `json:"app_secret"`
	MerchantSerial         string `json:"merchant_serial"`
	MerchantPrivateKeyPEM  string `json:"merchant_private_key"`
	APIv3Key               string `json:"apiv3_key"`
	PublicKeyID            string `json:"wechatpay_public_key_id"`
	PublicKeyPEM           string `json:"wechatpay_public_key"`
	PlatformCertSerial     string `json:"platform_cert_serial"`
	PlatformCertificatePEM string `json:"platform_certificate"`
	// Custom is true when the simulator was configured with keys of its own:
	// then these are not the ones it uses.
	Custom bool `json:"custom"`
}

// DevKeys returns the development key set and whether this simulator uses it.
func (s *Simulator) DevKeys() DevKeys {
	return DevKeys{
		MchID: s.cfg.MchID, AppID: s.cfg.AppID, AppSecret: DevAppSecret,
		MerchantSerial: DevMerchantSerial, MerchantPrivateKeyPEM: DevMerchantPrivateKeyPEM, APIv3Key: DevAPIv3Key,
		PublicKeyID: DevPublicKeyID, PublicKeyPEM: DevPlatformPublicKeyPEM,
		PlatformCertSerial: DevPlatformCertSerial, PlatformCertificatePEM: DevPlatformCertificatePEM,
		Custom: s.cfg.MerchantSerial != DevMerchantSerial || s.cfg.APIv3Key != DevAPIv3Key ||
			s.cfg.PublicKeyID != DevPublicKeyID || s.cfg.PlatformCertSerial != DevPlatformCertSerial,
	}
}
