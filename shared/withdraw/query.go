package withdraw

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Withdrawal returns one of the user's withdrawals. While WeChat has it in
// flight, WeChat is asked once, so a page polling after
// wx.requestMerchantTransfer sees the result even if the notification is
// late; WeChat failing here is not an error.
func (s *Service) Withdrawal(ctx context.Context, openid, id string) (cloudpay.Withdrawal, error) {
	if len(id) > 32 || !cloudpay.ValidOutTradeNo(id) {
		return cloudpay.Withdrawal{}, cloudpay.FieldError("id", "withdrawal id is malformed")
	}
	w, err := s.store.Withdrawal(ctx, id)
	if err != nil {
		return cloudpay.Withdrawal{}, err
	}
	if w.OpenID != openid {
		return cloudpay.Withdrawal{}, cloudpay.Errorf(cloudpay.CodeForbidden, "withdrawal %s belongs to another user", id)
	}
	return s.sync(ctx, w, false)
}

// sync asks WeChat about a withdrawal in flight and records a change; a
// withdrawal frozen but never sent is sent. With resend, one sent without
// an answer that WeChat does not know is sent again, with the same
// out_bill_no (the attempt claim keeps a call in flight from doubling).
// Errors from WeChat leave the withdrawal as it was.
func (s *Service) sync(ctx context.Context, w cloudpay.Withdrawal, resend bool) (cloudpay.Withdrawal, error) {
	w, err := s.chain.Current(ctx, w)
	if err != nil || w.Status.Final() {
		return w, err
	}
	if w.Status == cloudpay.WithdrawalCreated {
		return s.send(ctx, w)
	}
	res, err := s.gw.QueryTransfer(ctx, w.ID)
	if err != nil {
		s.log.WarnContext(ctx, "query transfer", "withdrawal_id", w.ID, "error", err)
		return w, nil
	}
	if res.State == wechat.TransferNotExist {
		if resend {
			return s.send(ctx, w)
		}
		return w, nil // sent without an answer, and WeChat has no bill (yet): stays frozen
	}
	if res.State == wechat.TransferWaitUserConfirm && w.PackageInfo == "" {
		// The reply of the call that created the bill was lost, and only
		// that reply carries package_info: asking again with the same
		// out_bill_no returns the same bill.
		return s.send(ctx, w)
	}
	settled, err := s.chain.Apply(ctx, w, res)
	if errors.Is(err, errMismatch) {
		return w, nil
	}
	return settled, err
}

// maxList bounds a user's withdrawal listing.
const maxList = 100

// Withdrawals lists the user's withdrawals, newest first.
func (s *Service) Withdrawals(ctx context.Context, openid string) ([]cloudpay.Withdrawal, error) {
	list, err := s.store.ListWithdrawals(ctx, openid, "", maxList)
	if err != nil {
		return nil, err
	}
	for i, w := range list {
		if list[i], err = s.chain.Current(ctx, w); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// Record records a MCHTRANSFER.BILL.FINISHED notification whose
// signature was verified.
func (s *Service) Record(ctx context.Context, res wechat.TransferResult) (wechat.Verdict, error) {
	if res.MchID != "" && res.MchID != s.gw.MerchantID() {
		return wechat.OtherMerchant, nil
	}
	w, err := s.store.Withdrawal(ctx, res.OutBillNo)
	if cloudpay.ErrorCode(err) == cloudpay.CodeWithdrawalNotFound {
		s.log.WarnContext(ctx, "transfer notification for an unknown withdrawal ignored", "out_bill_no", res.OutBillNo)
		return wechat.UnknownWithdrawal, nil
	}
	if err != nil {
		return "", fmt.Errorf("transfer notification: %w", err)
	}
	// A projection behind its outcome claim needs no read here: the
	// claim below finds that outcome and writes its projection.
	if w.Status.Final() {
		return wechat.AlreadyRecorded, nil
	}
	if !res.State.Final() {
		return wechat.NotFinal, nil
	}
	ctx, cancel := effect.Detach(ctx)
	defer cancel()
	after, err := s.chain.Apply(ctx, w, res)
	if errors.Is(err, errMismatch) {
		return wechat.Mismatch, nil
	}
	if err != nil {
		return "", err
	}
	if after.Status == w.Status {
		return wechat.AlreadyRecorded, nil
	}
	return wechat.Recorded, nil
}

// Cancel withdraws a withdrawal the user has not confirmed yet: WeChat is
// asked to cancel the bill, and the money is unfrozen when WeChat reports
// it CANCELLED (the answer here is usually CANCELING).
func (s *Service) Cancel(ctx context.Context, openid, id string) (cloudpay.Withdrawal, error) {
	w, err := s.Withdrawal(ctx, openid, id)
	if err != nil {
		return w, err
	}
	if w.Status != cloudpay.WithdrawalWaitingUser {
		return w, cloudpay.Errorf(cloudpay.CodeWithdrawalState, "withdrawal %s is %s; only one waiting for the user can be cancelled", id, w.Status)
	}
	res, err := s.gw.CancelTransfer(ctx, w.ID)
	if err != nil {
		return w, fmt.Errorf("cancel withdrawal %s: %w", w.ID, err)
	}
	ctx, cancel := effect.Detach(ctx)
	defer cancel()
	return s.chain.Apply(ctx, w, res)
}

// Reconcile looks after a withdrawal in flight, for the job: one frozen
// but never sent is sent; one WeChat has is looked up and its answer
// recorded. It reports whether the status changed.
func (s *Service) Reconcile(ctx context.Context, id string) (bool, error) {
	w, err := s.store.Withdrawal(ctx, id)
	if err != nil {
		return false, err
	}
	after, err := s.sync(ctx, w, true)
	return after.Status != w.Status, err
}
