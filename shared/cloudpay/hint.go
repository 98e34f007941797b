package cloudpay

// PayHint is what an unsigned pay callback claims. It proves nothing: the
// payment service confirms it with WeChat before anything changes.
type PayHint struct {
	OutTradeNo    string
	TransactionID string
	TotalFen      Fen
	MchID         string
	OpenID        string
	// HasTotal is false when the callback carried no amount; WeChat's answer
	// to the query is then the only amount checked.
	HasTotal bool
}
