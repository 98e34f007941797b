package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Withdraw is the withdraw function's handler: wallet credits and profiles
// for the merchant's back end (bearer), the wallet and withdrawals for
// users (openid).
func Withdraw(svc *withdraw.Service, admin AdminConfig, users UserConfig, log *slog.Logger) http.Handler {
	log = orDiscard(log)
	r := newEngine("withdraw", log)
	h := withdrawHandlers{svc: svc}
	g := newGuard("withdraw", admin)
	r.POST("/wallets/:openid/credits", append(g.act(movers...), h.credit)...)
	r.PUT("/wallets/:openid/profile", append(g.act(movers...), h.profile)...)
	r.GET("/wallets/:openid", g.read(), h.adminWallet)
	r.GET("/wallets/:openid/entries", g.read(), h.adminEntries)
	r.GET("/wallet", openID(users), h.wallet)
	r.GET("/wallet/entries", openID(users), h.entries)
	r.POST("/withdrawals", openID(users), h.withdraw)
	r.GET("/withdrawals", openID(users), h.list)
	r.GET("/withdrawals/:id", openID(users), h.get)
	r.POST("/withdrawals/:id/cancel", openID(users), h.cancel)
	return r
}

type withdrawHandlers struct {
	svc *withdraw.Service
}

type creditRequest struct {
	CreditID  string `json:"credit_id"`
	AmountFen int64  `json:"amount_fen"`
	Memo      string `json:"memo"`
}

func (h withdrawHandlers) credit(c *gin.Context) {
	var req creditRequest
	if !bind(c, &req) {
		return
	}
	w, created, err := h.svc.Credit(c, c.Param("openid"), req.CreditID, cloudpay.Fen(req.AmountFen), req.Memo)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(orExisting(created, http.StatusCreated), creditView{AmountFen: req.AmountFen, Created: created, CreditID: req.CreditID, Wallet: viewWallet(w)})
}

type profileRequest struct {
	RealName string `json:"real_name"`
}

func (h withdrawHandlers) profile(c *gin.Context) {
	var req profileRequest
	if !bind(c, &req) {
		return
	}
	if err := h.svc.SetRealName(c, c.Param("openid"), req.RealName); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, profileView{OpenID: c.Param("openid"), RealNameOnFile: true})
}

func (h withdrawHandlers) adminWallet(c *gin.Context) {
	w, err := h.svc.Wallet(c, c.Param("openid"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWallet(w))
}

func (h withdrawHandlers) wallet(c *gin.Context) {
	w, err := h.svc.Wallet(c, c.GetString(openIDKey))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWallet(w))
}

func (h withdrawHandlers) adminEntries(c *gin.Context) { h.history(c, c.Param("openid")) }

func (h withdrawHandlers) entries(c *gin.Context) { h.history(c, c.GetString(openIDKey)) }

// history answers a page of a wallet's entries, newest first.
func (h withdrawHandlers) history(c *gin.Context, openid string) {
	q, ok := query(c, []string{"before", "limit"})
	if !ok {
		return
	}
	entries, next, err := h.svc.History(c, openid, seqParam(q.Get("before")), intParam(c, q.Get("limit")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWalletEntries(entries, next))
}

// seqParam reads an optional entry number; a malformed one, or 0, is
// passed on as -1, out of range, so the service names the field.
func seqParam(v string) int64 {
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return -1
	}
	return n
}

type withdrawRequest struct {
	AmountFen      int64  `json:"amount_fen"`
	IdempotencyKey string `json:"idempotency_key"`
}

func (h withdrawHandlers) withdraw(c *gin.Context) {
	var req withdrawRequest
	if !bind(c, &req) {
		return
	}
	w, created, err := h.svc.Withdraw(c, c.GetString(openIDKey), cloudpay.Fen(req.AmountFen), req.IdempotencyKey)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(orExisting(created, http.StatusCreated), viewWithdrawal(w))
}

func (h withdrawHandlers) list(c *gin.Context) {
	list, err := h.svc.Withdrawals(c, c.GetString(openIDKey))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWithdrawals(list))
}

func (h withdrawHandlers) get(c *gin.Context) {
	w, err := h.svc.Withdrawal(c, c.GetString(openIDKey), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWithdrawal(w))
}

func (h withdrawHandlers) cancel(c *gin.Context) {
	var none struct{}
	if !bindOptional(c, &none) {
		return
	}
	w, err := h.svc.Cancel(c, c.GetString(openIDKey), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWithdrawal(w))
}
