// Package operator holds the read views of the operator's console: orders
// with their refunds and refundable amount, and withdrawals. Everything
// money-related is read from the ledgers, never computed here.
package operator

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
)

// OrderFilter selects orders for the operator's listing; zero fields match
// anything. From and To bound created_at (From inclusive, To exclusive).
type OrderFilter struct {
	OutTradeNo string
	OpenID     string
	Status     cloudpay.OrderStatus
	Method     cloudpay.PayMethod // how it is being paid or was paid
	// Shipping is the order's shipping state ("shipped", "partly_shipped"),
	// or ShippingNone: no shipping taken by WeChat yet.
	Shipping string
	From, To time.Time
}

// ShippingNone selects orders WeChat holds no shipping of.
const ShippingNone = "none"

// Service answers the console's queries. Build one per process.
type Service struct {
	store Store
}

// New builds the service.
func New(store Store) *Service { return &Service{store: store} }

// OrderQuery selects orders; empty fields match anything. From and To are
// Beijing dates (YYYY-MM-DD), both inclusive.
type OrderQuery struct {
	OutTradeNo, OpenID, Status, Method, From, To, Cursor string
	Shipping                                             string // shipped, partly_shipped or none
	Limit                                                int
}

// OrdersPage is one page of orders, newest first.
type OrdersPage struct {
	Orders     []cloudpay.Order
	NextCursor string
}

// MaxPage bounds a page.
const MaxPage = 200

func day(field, v string) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, v, cloudpay.Beijing)
	if err != nil {
		return time.Time{}, cloudpay.FieldError(field, "%s must be a date YYYY-MM-DD", field)
	}
	return t.UTC(), nil
}

// Orders lists orders for the console.
func (s *Service) Orders(ctx context.Context, q OrderQuery) (OrdersPage, error) {
	f := OrderFilter{OutTradeNo: q.OutTradeNo, OpenID: q.OpenID, Status: cloudpay.OrderStatus(q.Status), Method: cloudpay.PayMethod(q.Method),
		Shipping: q.Shipping}
	switch {
	case q.OutTradeNo != "" && !cloudpay.ValidOutTradeNo(q.OutTradeNo):
		return OrdersPage{}, cloudpay.FieldError("out_trade_no", "out_trade_no is malformed")
	case q.OpenID != "" && !cloudpay.ValidOpenID(q.OpenID):
		return OrdersPage{}, cloudpay.FieldError("openid", "openid is malformed")
	case q.Status != "" && !knownStatus(f.Status):
		return OrdersPage{}, cloudpay.FieldError("status", "status %q is not an order status", q.Status)
	case q.Method != "" && !f.Method.Valid():
		return OrdersPage{}, cloudpay.FieldError("method", "method %q is not a payment method (jsapi, native, h5, balance, alipay_qr, alipay_wap)", q.Method)
	case q.Shipping != "" && q.Shipping != "shipped" && q.Shipping != "partly_shipped" && q.Shipping != ShippingNone:
		return OrdersPage{}, cloudpay.FieldError("shipping", "shipping %q must be shipped, partly_shipped or none", q.Shipping)
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Limit < 1 || q.Limit > MaxPage {
		return OrdersPage{}, cloudpay.FieldError("limit", "limit must be between 1 and %d", MaxPage)
	}
	var err error
	if q.From != "" {
		if f.From, err = day("from", q.From); err != nil {
			return OrdersPage{}, err
		}
	}
	if q.To != "" {
		if f.To, err = day("to", q.To); err != nil {
			return OrdersPage{}, err
		}
		f.To = f.To.Add(24 * time.Hour) // the whole last day
	}
	var after *cloudpay.Cursor
	if q.Cursor != "" {
		c, err := cloudpay.DecodeCursor(q.Cursor)
		if err != nil {
			return OrdersPage{}, err
		}
		after = &c
	}
	orders, next, err := s.store.ListOrders(ctx, f, after, q.Limit)
	if err != nil {
		return OrdersPage{}, err
	}
	return OrdersPage{Orders: orders, NextCursor: next}, nil
}

func knownStatus(st cloudpay.OrderStatus) bool {
	switch st {
	case cloudpay.OrderUnpaid, cloudpay.OrderPaying, cloudpay.OrderPaid, cloudpay.OrderClosed,
		cloudpay.OrderPartiallyRefunded, cloudpay.OrderRefunded:
		return true
	}
	return false
}

// OrderDetail is an order with its refunds and what may still be refunded,
// from the refund ledger.
type OrderDetail struct {
	Order         cloudpay.Order
	RefundableFen cloudpay.Fen
	RefundedFen   cloudpay.Fen
	ReservedFen   cloudpay.Fen
	RefundCount   int
	Refunds       []cloudpay.Refund
}

// maxRefunds is more than WeChat's 50 refunds per order.
const maxRefunds = 100

// Order returns one order's detail.
func (s *Service) Order(ctx context.Context, outTradeNo string) (OrderDetail, error) {
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return OrderDetail{}, cloudpay.FieldError("out_trade_no", "out_trade_no is malformed")
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return OrderDetail{}, err
	}
	d := OrderDetail{Order: o}
	tail, found, err := s.store.RefundLedgerTail(ctx, outTradeNo)
	if err != nil {
		return OrderDetail{}, err
	}
	switch {
	case found:
		d.RefundableFen, d.RefundedFen, d.ReservedFen, d.RefundCount = tail.RefundableFen(), tail.RefundedFen, tail.ReservedFen, tail.Count
	default:
		st, paid, err := s.store.Settlement(ctx, outTradeNo)
		if err != nil {
			return OrderDetail{}, err
		}
		if paid && st.Outcome == cloudpay.SettledPaid {
			d.RefundableFen = st.AmountFen
		}
	}
	d.Refunds, _, _, err = s.store.ListRefunds(ctx, refund.Filter{OutTradeNo: outTradeNo}, nil, maxRefunds)
	if err != nil {
		return OrderDetail{}, err
	}
	return d, nil
}

// Withdrawals lists withdrawals for the console, newest first.
func (s *Service) Withdrawals(ctx context.Context, openid, status string, limit int) ([]cloudpay.Withdrawal, error) {
	if openid != "" && !cloudpay.ValidOpenID(openid) {
		return nil, cloudpay.FieldError("openid", "openid is malformed")
	}
	switch st := cloudpay.WithdrawalStatus(status); st {
	case "", cloudpay.WithdrawalCreated, cloudpay.WithdrawalProcessing, cloudpay.WithdrawalWaitingUser,
		cloudpay.WithdrawalSucceeded, cloudpay.WithdrawalFailed, cloudpay.WithdrawalCancelled:
	default:
		return nil, cloudpay.FieldError("status", "status %q is not a withdrawal status", status)
	}
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > MaxPage {
		return nil, cloudpay.FieldError("limit", "limit must be between 1 and %d", MaxPage)
	}
	return s.store.ListWithdrawals(ctx, openid, cloudpay.WithdrawalStatus(status), limit)
}
