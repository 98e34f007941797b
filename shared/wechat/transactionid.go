package wechat

// MaxTransactionIDLen is the longest transaction_id WeChat Pay documents
// (string(32) in every query by 微信支付订单号, v2 and v3).
const MaxTransactionIDLen = 32

// ValidTransactionID reports whether s can be WeChat Pay's payment number
// (transaction_id, 微信支付订单号): digits only, at most 32 of them. WeChat
// documents no minimum; the numbers it issues are 28 digits.
func ValidTransactionID(s string) bool {
	if s == "" || len(s) > MaxTransactionIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
