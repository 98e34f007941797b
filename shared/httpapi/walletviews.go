package httpapi

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// walletEntryView is one movement in a wallet as its user and the
// merchant's back end see it, with the balance after it. What it refers
// to depends on its kind: credit_id and memo (credit), withdrawal_id
// (freeze, debit, unfreeze), out_trade_no (payment, reversal, refund) and
// out_refund_no (refund).
type walletEntryView struct {
	Seq          int64     `json:"seq"`
	Kind         string    `json:"kind"`
	AmountFen    int64     `json:"amount_fen"`
	AvailableFen int64     `json:"available_fen"`
	FrozenFen    int64     `json:"frozen_fen"`
	OutTradeNo   string    `json:"out_trade_no,omitempty"`
	OutRefundNo  string    `json:"out_refund_no,omitempty"`
	WithdrawalID string    `json:"withdrawal_id,omitempty"`
	CreditID     string    `json:"credit_id,omitempty"`
	Memo         string    `json:"memo,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

func viewWalletEntry(e cloudpay.WalletEntry) walletEntryView {
	return walletEntryView{
		Seq: e.Seq, Kind: string(e.Kind), AmountFen: int64(e.AmountFen),
		AvailableFen: int64(e.AvailableFen), FrozenFen: int64(e.FrozenFen),
		OutTradeNo: e.OutTradeNo, OutRefundNo: e.OutRefundNo, WithdrawalID: e.WithdrawalID,
		CreditID: e.CreditID, Memo: e.Memo, CreatedAt: e.CreatedAt.UTC(),
	}
}

// walletEntriesView answers GET /wallet/entries and GET
// /wallets/{openid}/entries: a page of entries, newest first, and the
// before of the next page when there is one.
type walletEntriesView struct {
	Entries    []walletEntryView `json:"entries"`
	NextBefore int64             `json:"next_before,omitempty"`
}

func viewWalletEntries(entries []cloudpay.WalletEntry, next int64) walletEntriesView {
	return walletEntriesView{Entries: mapSlice(entries, viewWalletEntry), NextBefore: next}
}
