package cloudpay

// PayHint is what an unsigned pay callback claims. It proves nothing: the
// payment service confirms it with WeChat before anything changes.
type PayHint struct {
	OutTradeNo    string
	TransactionID string
	TotalFen      Fen
	MchID         string
	OpenID        string
	Success       bool // returnCode and resultCode both SUCCESS
}
