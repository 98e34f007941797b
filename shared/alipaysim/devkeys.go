package alipaysim

// Development credentials: an application ("merchant") key pair and an "Alipay" key pair
// that exist only here, so the local stack and the tests can run the unmodified
// smartwalle/alipay SDK against the simulator in public-key mode (公钥模式). They are
// public and worthless; never use them with real Alipay.
const (
	// DevAppID is the application the simulator serves by default (Config.AppID).
	DevAppID = "2021000000000001"
	// DevSellerID is the merchant's Alipay user id, the seller_id of every trade
	// (Config.SellerID). Alipay user ids are 16 digits starting with 2088.
	DevSellerID = "2088000000000001"
	// DevBuyerID is the user who scans and pays (buyer_id, buyer_user_id).
	DevBuyerID = "2088000000000002"
)

// DevAppPrivateKeyPEM is the development application private key (PKCS#8): the merchant
// signs its requests with it (alipay.New's privateKey).
const DevAppPrivateKeyPEM = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC68sJ7xZQb3Ic2
IRvTG8Wpgite1KWLYPyuNnto0TMX5/JUjqREIJyugu2hKUyfpEX/ZSM7Cx7bonmM
yxAZRGoysAHNu4GuwKJrSqBqb9DFLtx9dXAVIkFSN/nHSX8EbvrBC6KzP8YsKpB1
AtMK9ne9+avB52UVEj5b889SCE3dHChxZGFkVYSUUhuyhPREWJrddF2Y0k70+gDs
RipSCqoXNG/sRad0I3TochZq1OPhgh8ZEfj85H2dBPit+b0PtdzjP5fpvFUN1/Pq
xI63eM4S/Dxs/ER3nj12Geee9pqAn9SRoW+zKUsUYJYp57YULX5hQGeWhOxjHzqU
n3IchXGNAgMBAAECggEAGTpCNBP6WR9+IDgBOmXwhgqFUhjjCrcjUgUTIUFod4I6
3t3th9iuHBSZ/u9aTN63qBpx/Hk93Z4EG2ju+rc97NTN4YE7TlA7erwJgA4nv5GD
z+r68uHPq8nW9eV9SPq1nDsMO8vQMSHrTYb8i2mtc0r6ZRfAjxffp2aezwSaMUtC
MlhhzFhLVhb5GNDUASxsx1OoNIZl/GcAB5ELWJIPckUdPr0iihONxgCb8W2r2vy2
laHywvAAnDn1EZicwmsr6R/QNxa7LR+iKcX02XCZ7TqXnjHhGzzmeyrR3MKcQgkq
sEOrtjexynm02NW5lGWFVQgZzvR3e2Nn8TxHoU3NJwKBgQDkEUtn503jjaaov84g
gbTtoM+onCcXwpJ64U8taFgEQ3yhwvUMjBoy1LB3QZkiUZM4MGaKb0hoFcvY+k/U
uFOjcXe8/aaKMUea6yipWEGdFPz55ZvRs+hrSE5KdrFBdgkhDSSq1yAsje24rcw5
4GZv+1niEo3jSd64qiw3Ao3mmwKBgQDR2DvcYXcLZiL/l4UKCQ3nJa0P39qrKwX8
GaEGBeAX+AeniAqqpbT1v3PQg57/HiCO2kIQY1DTeFGFrzSa7CSVHDPushZL0FRo
9KTz5/xHbQz4eE9gH83V67OHhG7nty0RcmKheu6Fk0+OKPD79IG7W6fAGONOK3K/
2lb0LLn29wKBgQDRkkrWWagrF/kzS71gBZB6Y7EuYP9TSApOPEgDk8R9dn5KLtn7
A6r3VpYpn+/Vp1w+38r6HrRMYOsGoU1GTXMd16CN3A9zIUGJS9n7cwwoCidEgwci
Nc2296RprJPJcWuGIYu2KSR5jJoLgDkQXfIDqNa5dQ9I8pJk4orqqcA3TQKBgC7d
B6FT8u4MxUwnXoK7OuugMmIVMBSB6zg90QQzU7SGo876RseNcjhfpVGv01ZOOB8v
Bwn55BcWC767PhhLHHBgeAiapPgRcoht+liuOl0JMZhb5f4lnCZmGRXusYX2Fo6K
6RP/DD2whFfPNOJP3JknAvOXm0vd0CagcELfqjhJAoGATSAJqjdjhPR8Gl+lAxVH
ziWm4zcKiYW5ovBtS6r1zJ8aw5U2onxtiNcLggwDNne8V5hfodknZx/2UQ8dPUQ9
sFN1w9M1wKTjLxZ85CnZlzXJqF7y4WxlFhmL/3KflLcsA6oPNQYGPjcQ2RUuURtt
moDVJ2rPWEG9DoZsiWzWbWg=
-----END PRIVATE KEY-----`

// DevAppPublicKeyPEM is the development application public key (PKIX): the simulator
// verifies request signatures with it (Config.AppPublicKey default).
const DevAppPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuvLCe8WUG9yHNiEb0xvF
qYIrXtSli2D8rjZ7aNEzF+fyVI6kRCCcroLtoSlMn6RF/2UjOwse26J5jMsQGURq
MrABzbuBrsCia0qgam/QxS7cfXVwFSJBUjf5x0l/BG76wQuisz/GLCqQdQLTCvZ3
vfmrwedlFRI+W/PPUghN3RwocWRhZFWElFIbsoT0RFia3XRdmNJO9PoA7EYqUgqq
FzRv7EWndCN06HIWatTj4YIfGRH4/OR9nQT4rfm9D7Xc4z+X6bxVDdfz6sSOt3jO
Evw8bPxEd549dhnnnvaagJ/UkaFvsylLFGCWKee2FC1+YUBnloTsYx86lJ9yHIVx
jQIDAQAB
-----END PUBLIC KEY-----`

// DevAlipayPrivateKeyPEM is the development "Alipay" private key (PKCS#8): the simulator
// signs responses, notifications and return URLs with it (Config.AlipayKey default).
const DevAlipayPrivateKeyPEM = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDEHGcF4SBvMh14
g1FMAdZaxATSKtciFK5f6xcBpDMV3ZCC5x4gKlR67fSSJnfNKz0duJKf87Rq2Oac
1eU5jVgi64q/98OZp633C+xtBhY2EG37S0qWJGC7cCJIsdhCRwOcDirg2Ce2Xg9h
GMh75PiRWla3MuDPIEq9XVwyIw9OMMrn6BbG2HP6hGjtM8Xc+KpeseIItfqvNe5g
csEJBSQJlyT7KbPRItvIVg79FMBjb4oj2Q0QKDa774emhB+WwNgfn9pajRw9qxRP
/MyFZsXIGTJ47X6gXpPWD1wmUEwJvtEiscJrmdpItpF55NEydguWrfLt1T7JA8Kr
E6igXNt1AgMBAAECggEAIs86zy2abPpbhk5i0ge6dWJ5S5fMl3FN0VtAemtboPwy
wDWHYKS62ZYetQlsdue/oaSnLAqdQeDtsDV8SlanKA2gk3oGR2IezCza4rAzpZWN
fA8tdlCPNf4Nq9MbhIon3x2ZqU7c36868hxsy6cFIwHCxiJbCpDcC1hEuuaDuzg4
V5pB2V3oIZeW2M2a0QGOM8xcehpKWvTdhNQ4caRpPfuiY/FkT+qZUS8D8T2mIMS4
3Y8b7txclncnZurYLJQg9NP9X5QpNjLg78Eps1jicFH6oH31wJPdY/wg0q7DSGX6
ZUHnQP/lgkuqr7afstEFMICyEtmk8BFxpSRMerU9IQKBgQD8DYoqMPrAkRLdtDXY
we7/hBsSSJ12TaxHFbu+nhseGmNOuMhvyk6RCUSA6cp+oOGxP8NmezhRIVZTyHrB
GpanUdJqsvb5eyKQ8M3iXHF4hNwtfLe7C1KkstaLp4RD4TwPVmWxtd1XReUNtBC8
SKIZYTZoexvAO06AjvZxHgyJFQKBgQDHLpiKWYSEpyPtVNqGi7tpeYsGvDjhC92h
0aIt8dXzMqliPNEnY5WjjeGo6wVjrgk4WEw3gioOfEMgM+E808dCFfKUSfwydC/b
DLMPq6CeZE+Zk3M33Ci8fJX1A6lPtFS5J7kz0YWueczM1/XzwBqIbU/T6r1UBUpP
s+FHT07g4QKBgHIhA13FXdVSG1POJM+oSLrkK4nk3X/S/d4WJjPSzX6c/jiIDSIp
XdfodV9V/T3HRUqID8dYphB+YuN/FK5ZhrvunbN4o8IlkmpEz0TfDPZAWp4yKdOE
9f/jhqgnywkddJ+RRGzqZ3X8DRJeZXGMBfIuBX/btp4dfJdTpJ1luNFdAoGAV4ei
gSnVknXg0+r2HSpKsY84CT2twTf1rabyHj6oRrd8uC8Bus2IdNdk01Z0h9lzM8+Z
rssEsFjrJrulv5VRezkp4QCiU4m7fgeWqMxDSVfLozGo8GNPg4U8YO+698vHb5aF
TMBGfuYHmf1NmFBTWKCw8++0Q7gPb/cciLnRcAECgYEA0G6tzLSTz5ysTIachJmS
LyfqDixj8UKWuE1qJIQZCqIuo4E7BaB0fROP5VytZo+X5gbRncG4JoYeLg44HUTx
UmN+7YVcIx52YN3SDAs9IU0EtSGamLKy8ZJ+I5k27KmNKQH41C8/rpFoS6xPNozC
zV3viu4yWJDUcfnNMqmJZrY=
-----END PRIVATE KEY-----`

// DevAlipayPublicKeyPEM is the development "Alipay" public key (PKIX), what the merchant
// loads with client.LoadAliPayPublicKey to verify the simulator.
const DevAlipayPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxBxnBeEgbzIdeINRTAHW
WsQE0irXIhSuX+sXAaQzFd2QguceICpUeu30kiZ3zSs9HbiSn/O0atjmnNXlOY1Y
IuuKv/fDmaet9wvsbQYWNhBt+0tKliRgu3AiSLHYQkcDnA4q4Ngntl4PYRjIe+T4
kVpWtzLgzyBKvV1cMiMPTjDK5+gWxthz+oRo7TPF3PiqXrHiCLX6rzXuYHLBCQUk
CZck+ymz0SLbyFYO/RTAY2+KI9kNECg2u++HpoQflsDYH5/aWo0cPasUT/zMhWbF
yBkyeO1+oF6T1g9cJlBMCb7RIrHCa5naSLaReeTRMnYLlq3y7dU+yQPCqxOooFzb
dQIDAQAB
-----END PUBLIC KEY-----`
