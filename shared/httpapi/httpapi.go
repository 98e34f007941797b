// Package httpapi is the HTTP face of every function: gin engines with the
// routes of design.md §3, strict JSON decoding, one view type per response
// body (views.go), one table from error codes to statuses, request ids and
// access logs.
package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/outbox"
)

// UserConfig is how mini-program users are admitted. Cloud Hosting sets
// X-WX-SOURCE on calls that came through WeChat; on a public domain (or a
// Function URL without a trusted front) every X-WX-* header can be forged,
// so by default a user route refuses a call without it.
type UserConfig struct {
	RequireWXSource bool `env:"REQUIRE_WX_SOURCE, default=true"`
}

// statuses is the one table from error codes to HTTP statuses.
var statuses = map[cloudpay.Code]int{
	cloudpay.CodeInvalidJSON:         http.StatusBadRequest,
	cloudpay.CodeInvalidField:        http.StatusBadRequest,
	cloudpay.CodeUnknownField:        http.StatusBadRequest,
	cloudpay.CodeBodyTooLarge:        http.StatusBadRequest,
	cloudpay.CodeUnauthorized:        http.StatusUnauthorized,
	cloudpay.CodeOpenIDRequired:      http.StatusUnauthorized,
	cloudpay.CodeForbidden:           http.StatusForbidden,
	cloudpay.CodeForbiddenRole:       http.StatusForbidden,
	cloudpay.CodeFourEyes:            http.StatusForbidden,
	cloudpay.CodeNotFound:            http.StatusNotFound,
	cloudpay.CodeOrderNotFound:       http.StatusNotFound,
	cloudpay.CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	cloudpay.CodeOrderConflict:       http.StatusConflict,
	cloudpay.CodeOrderPaid:           http.StatusConflict,
	cloudpay.CodeOrderClosed:         http.StatusConflict,
	cloudpay.CodeOrderExpired:        http.StatusConflict,
	cloudpay.CodeOrderNotPaid:        http.StatusConflict,
	cloudpay.CodeRefundNotFound:      http.StatusNotFound,
	cloudpay.CodeRefundConflict:      http.StatusConflict,
	cloudpay.CodeRefundExceeds:       http.StatusUnprocessableEntity,
	cloudpay.CodeRefundLimit:         http.StatusUnprocessableEntity,
	cloudpay.CodeRefundTooLate:       http.StatusUnprocessableEntity,
	cloudpay.CodeRefundState:         http.StatusConflict,
	cloudpay.CodeBatchNotFound:       http.StatusNotFound,
	cloudpay.CodeBatchConflict:       http.StatusConflict,
	cloudpay.CodeBadSignature:        http.StatusUnauthorized,
	cloudpay.CodeWithdrawalNotFound:  http.StatusNotFound,
	cloudpay.CodeWithdrawalConflict:  http.StatusConflict,
	cloudpay.CodeCreditConflict:      http.StatusConflict,
	cloudpay.CodeInsufficientBalance: http.StatusUnprocessableEntity,
	cloudpay.CodeMethodNotSupported:  http.StatusUnprocessableEntity,
	cloudpay.CodeShippingRefused:     http.StatusConflict,
	cloudpay.CodeShippingOff:         http.StatusUnprocessableEntity,
	cloudpay.CodeShippingConflict:    http.StatusConflict,
	cloudpay.CodePaymentSwitched:     http.StatusConflict,
	cloudpay.CodeBelowMinimum:        http.StatusUnprocessableEntity,
	cloudpay.CodeAboveMaximum:        http.StatusUnprocessableEntity,
	cloudpay.CodeDailyCountExceeded:  http.StatusUnprocessableEntity,
	cloudpay.CodeDailyAmountExceeded: http.StatusUnprocessableEntity,
	cloudpay.CodeRealNameRequired:    http.StatusUnprocessableEntity,
	cloudpay.CodeWithdrawalState:     http.StatusConflict,
	cloudpay.CodeTransactionNotFound: http.StatusNotFound,
	cloudpay.CodeOtherMerchant:       http.StatusUnprocessableEntity,
	cloudpay.CodeBillNotReady:        http.StatusConflict,
	cloudpay.CodeNoStatement:         http.StatusNotFound,
	cloudpay.CodeBillUnsupported:     http.StatusUnprocessableEntity,
	outbox.CodeDeliveryFailed:        http.StatusBadGateway,
	outbox.CodeDeliveryInProgress:    http.StatusConflict,
	cloudpay.CodeWeChatError:         http.StatusBadGateway,
	cloudpay.CodeWeChatTimeout:       http.StatusGatewayTimeout,
	cloudpay.CodeStoreBusy:           http.StatusServiceUnavailable,
	cloudpay.CodeInternal:            http.StatusInternalServerError,
}

// Status is the HTTP status for an error code.
func Status(code cloudpay.Code) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// fail writes err as the contract's error body. Internal details stay in
// the log: a client sees the code and a message meant for it. A 503 (a
// busy store) is safe to repeat: Retry-After says when.
func fail(c *gin.Context, err error) {
	var de *cloudpay.Error
	view := errorView{Code: cloudpay.CodeInternal, Message: "internal error"}
	if errors.As(err, &de) && de.Code != cloudpay.CodeInternal {
		view = errorView{Code: de.Code, Message: de.Message, Field: de.Field}
	}
	_ = c.Error(err)
	status := Status(view.Code)
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	c.AbortWithStatusJSON(status, errorBody{Error: view})
}

const requestIDHeader = "X-Request-Id"

var requestIDPattern = regexp.MustCompile(`^[0-9A-Za-z_.:\-]{1,64}$`)

// orDiscard lets callers pass a nil logger.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// releaseMode sets gin's mode, a process-wide variable that gin 1.10 writes
// without synchronisation, once for every engine of the process.
var releaseMode sync.Once

// newEngine is the gin engine every function starts from.
func newEngine(function string, log *slog.Logger) *gin.Engine {
	releaseMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(requestID, accessLog(log), recoverJSON(log))
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, healthView{Function: function, Status: "ok"}) })
	r.GET("/openapi.json", openAPI(function))
	r.NoRoute(func(c *gin.Context) {
		fail(c, cloudpay.Errorf(cloudpay.CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		fail(c, cloudpay.Errorf(cloudpay.CodeMethodNotAllowed, "method %s not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	return r
}

// requestID keeps a well-formed incoming X-Request-Id (Cloud Hosting and
// API gateways set one) or makes one, and echoes it on every response.
func requestID(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !requestIDPattern.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(requestIDHeader, id)
	c.Header(requestIDHeader, id)
	c.Next()
}

// accessLog writes one line per request; the logger carries the function.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		attrs := []any{
			"request_id", c.GetString(requestIDHeader),
			"method", c.Request.Method, "route", c.FullPath(), "status", status,
			"latency_ms", float64(time.Since(start).Microseconds()) / 1000,
		}
		switch {
		case status >= 500:
			log.ErrorContext(c, "request", append(attrs, "err", c.Errors.String())...)
		case status >= 400:
			log.InfoContext(c, "request", append(attrs, "err", c.Errors.String())...)
		default:
			log.InfoContext(c, "request", attrs...)
		}
	}
}

// recoverJSON turns a panic into a 500 with the contract's body. Nothing
// should panic; this keeps one bug from dropping the connection.
func recoverJSON(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(c, "panic", "request_id", c.GetString(requestIDHeader), "panic", p)
				fail(c, cloudpay.Errorf(cloudpay.CodeInternal, "internal error"))
			}
		}()
		c.Next()
	}
}

// bearer admits the merchant's back end. Every token is compared in
// constant time, so timing tells nothing about which one nearly matched.
func bearer(tokens []string) gin.HandlerFunc {
	valid := make([][]byte, 0, len(tokens))
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			valid = append(valid, []byte(t))
		}
	}
	return func(c *gin.Context) {
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		match := 0
		for _, t := range valid {
			match |= subtle.ConstantTimeCompare([]byte(got), t)
		}
		if !ok || got == "" || match != 1 {
			fail(c, cloudpay.Errorf(cloudpay.CodeUnauthorized, "a valid Authorization: Bearer token is required"))
			return
		}
		c.Next()
	}
}

const openIDKey = "openid"

// openID admits a mini-program user by the X-WX-OPENID header Cloud Hosting
// injects into wx.cloud.callContainer requests.
func openID(cfg UserConfig) gin.HandlerFunc {
	return func(c *gin.Context) {
		if cfg.RequireWXSource && c.GetHeader("X-WX-SOURCE") == "" {
			fail(c, cloudpay.Errorf(cloudpay.CodeOpenIDRequired, "X-WX-SOURCE is missing: this route only takes calls made through wx.cloud.callContainer"))
			return
		}
		admitUser(c)
	}
}

func admitUser(c *gin.Context) {
	id := c.GetHeader("X-WX-OPENID")
	if id == "" {
		fail(c, cloudpay.Errorf(cloudpay.CodeOpenIDRequired, "X-WX-OPENID is missing: call through wx.cloud.callContainer"))
		return
	}
	if !cloudpay.ValidOpenID(id) {
		fail(c, cloudpay.Errorf(cloudpay.CodeUnauthorized, "X-WX-OPENID is malformed"))
		return
	}
	c.Set(openIDKey, id)
	c.Next()
}

// clientIP is the user's address as Cloud Hosting reports it: the first
// X-Forwarded-For entry, else X-Original-Forwarded-For, else the peer.
func clientIP(c *gin.Context) string {
	for _, h := range []string{"X-Forwarded-For", "X-Original-Forwarded-For"} {
		if v := c.GetHeader(h); v != "" {
			first, _, _ := strings.Cut(v, ",")
			if first = strings.TrimSpace(first); first != "" && len(first) <= 64 {
				return first
			}
		}
	}
	return c.RemoteIP()
}

// orExisting is the status of a create: fresh (201, or 202 for work that
// goes on) or 200 when the same request found what it made before.
func orExisting(created bool, fresh int) int {
	if created {
		return fresh
	}
	return http.StatusOK
}
