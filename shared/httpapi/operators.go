package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// AdminConfig is who may call the admin routes: named tokens with a role
// (OPERATORS), and the older unnamed ADMIN_TOKENS, each of which has every
// role. Tokens are configured as SHA-256 hashes, never in clear; one is
// rotated by configuring the new one beside it, then removing the old.
type AdminConfig struct {
	// Tokens are bearer tokens in clear with every role, from before named
	// tokens: prefer Operators.
	Tokens []string `env:"ADMIN_TOKENS"`
	// Operators are name:role:sha256-hex-of-the-token, comma-separated; the
	// role is viewer, operator, approver or service.
	Operators []string `env:"OPERATORS"`
	// Audit is where state-changing admin calls are appended (the store);
	// nil keeps no log (tests of a router alone).
	Audit AuditLog
}

// AuditLog appends the audit log (mongostore.Store).
type AuditLog interface {
	AppendAudit(ctx context.Context, e cloudpay.AuditEntry) error
}

// Validate checks the tokens' settings, naming the setting and the entry,
// never a token or a hash.
func (c AdminConfig) Validate() error {
	_, err := c.admins()
	return err
}

// admin is one configured token.
type admin struct {
	name  string
	role  cloudpay.Role
	hash  [sha256.Size]byte // OPERATORS
	clear []byte            // ADMIN_TOKENS
}

func (c AdminConfig) admins() ([]admin, error) {
	var out []admin
	names := map[string]bool{}
	for i, e := range c.Operators {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		parts := strings.Split(e, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("configuration: OPERATORS entry %d is not name:role:sha256", i+1)
		}
		name, role, hexHash := strings.TrimSpace(parts[0]), cloudpay.Role(strings.TrimSpace(parts[1])), strings.TrimSpace(parts[2])
		switch {
		case name == "" || len(name) > 64 || strings.ContainsAny(name, " \t,"):
			return nil, fmt.Errorf("configuration: OPERATORS entry %d: the name must be 1-64 characters without spaces or commas", i+1)
		case names[name]:
			return nil, fmt.Errorf("configuration: OPERATORS entry %d: the name %q is given twice", i+1, name)
		case strings.HasPrefix(name, legacyPrefix):
			return nil, fmt.Errorf("configuration: OPERATORS entry %d: names starting %q are ADMIN_TOKENS' own", i+1, legacyPrefix)
		case !cloudpay.ValidRole(role):
			return nil, fmt.Errorf("configuration: OPERATORS entry %d (%s): role must be viewer, operator, approver or service", i+1, name)
		}
		raw, err := hex.DecodeString(hexHash)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("configuration: OPERATORS entry %d (%s): the token's hash must be 64 hex digits of SHA-256 (printf %%s TOKEN | sha256sum)", i+1, name)
		}
		a := admin{name: name, role: role}
		copy(a.hash[:], raw)
		names[name] = true
		out = append(out, a)
	}
	for _, t := range c.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			// Named by a fingerprint, not a position: reordering the list
			// while rotating never gives one token another's name (four eyes
			// compares names).
			sum := sha256.Sum256([]byte(t))
			out = append(out, admin{name: legacyPrefix + hex.EncodeToString(sum[:4]), role: cloudpay.RoleAdmin, clear: []byte(t)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("configuration: set OPERATORS (name:role:sha256 of each token) or ADMIN_TOKENS")
	}
	return out, nil
}

// legacyPrefix starts the name of an ADMIN_TOKENS token: "admin-" and the
// first 8 hex digits of its SHA-256.
const legacyPrefix = "admin-"

// identity is who called: a token's name and role.
type identity struct {
	Name string
	Role cloudpay.Role
}

const identityKey = "cloudpay.identity"

// caller is who called an admin route (set by guard.may).
func caller(c *gin.Context) identity {
	id, _ := c.Get(identityKey)
	v, _ := id.(identity)
	return v
}

// guard admits the admin routes of one function.
type guard struct {
	function string
	admins   []admin
	audit    AuditLog
}

func newGuard(function string, cfg AdminConfig) guard {
	admins, err := cfg.admins()
	if err != nil {
		admins = nil // app validates at start-up; a router built alone with none admits no one
	}
	return guard{function: function, admins: admins, audit: cfg.Audit}
}

// who finds the caller's token, in constant time per configured token.
func (g guard) who(c *gin.Context) (identity, bool) {
	got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || got == "" {
		return identity{}, false
	}
	sum := sha256.Sum256([]byte(got))
	found := -1
	for i, a := range g.admins {
		var m int
		if a.clear != nil {
			m = subtle.ConstantTimeCompare([]byte(got), a.clear)
		} else {
			m = subtle.ConstantTimeCompare(sum[:], a.hash[:])
		}
		if m == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return identity{}, false
	}
	return identity{Name: g.admins[found].name, Role: g.admins[found].role}, true
}

// may lets the route's roles (and ADMIN_TOKENS) through; anyone else gets
// 401 without a valid token, 403 FORBIDDEN_ROLE naming the roles needed.
func (g guard) may(roles ...cloudpay.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := g.who(c)
		if !ok {
			fail(c, cloudpay.Errorf(cloudpay.CodeUnauthorized, "a valid Authorization: Bearer token is required"))
			return
		}
		c.Set(identityKey, id)
		if id.Role != cloudpay.RoleAdmin && !slices.Contains(roles, id.Role) {
			names := make([]string, len(roles))
			for i, r := range roles {
				names[i] = string(r)
			}
			fail(c, cloudpay.Errorf(cloudpay.CodeForbiddenRole, "%s %s needs the role %s; %s has %s",
				c.Request.Method, c.FullPath(), strings.Join(names, " or "), id.Name, id.Role))
			return
		}
		c.Next()
	}
}

// Who may do what (issue 18): viewers read; operators move money out
// (refunds, batches, credits) and enter shipping; approvers decide
// (approve, reject, retry, redeliver); the merchant's back end (service)
// makes orders, refunds and credits and reads them, without the console.
var (
	readers   = []cloudpay.Role{cloudpay.RoleViewer, cloudpay.RoleOperator, cloudpay.RoleApprover, cloudpay.RoleService}
	consoleRd = []cloudpay.Role{cloudpay.RoleViewer, cloudpay.RoleOperator, cloudpay.RoleApprover}
	movers    = []cloudpay.Role{cloudpay.RoleOperator, cloudpay.RoleService}
	deciders  = []cloudpay.Role{cloudpay.RoleApprover}
	backEnd   = []cloudpay.Role{cloudpay.RoleService}
	shippers  = []cloudpay.Role{cloudpay.RoleOperator, cloudpay.RoleService}
)

// read admits readers of the merchant's data (everyone but the console-less
// roles of other routes: all four).
func (g guard) read() gin.HandlerFunc { return g.may(readers...) }

// console admits the console's readers (not the back end's token).
func (g guard) console() gin.HandlerFunc { return g.may(consoleRd...) }

// act admits roles to a state-changing route and appends its audit entry:
// refused calls (403) included; a call without a valid token (401) is only
// in the access log, so strangers cannot flood the audit log.
func (g guard) act(roles ...cloudpay.Role) []gin.HandlerFunc {
	return []gin.HandlerFunc{g.audited, g.may(roles...)}
}

// auditTimeout bounds an audit entry's insert, which outlives the caller.
const auditTimeout = 10 * time.Second

// auditBody is what an audit entry reads of a request body: the subject and
// the amount, never anything else.
type auditBody struct {
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	AmountFen     int64  `json:"amount_fen"`
	CreditID      string `json:"credit_id"`
}

// audited runs the rest of the chain with its answer held back, appends the
// audit entry, then lets the answer go: an action is never answered before
// it is logged. An entry that cannot be written turns the answer into 503:
// the action may have been done, and asking again with the same
// idempotency key is safe.
func (g guard) audited(c *gin.Context) {
	if g.audit == nil {
		c.Next()
		return
	}
	if _, ok := g.who(c); !ok {
		c.Next() // 401: not an admin's action
		return
	}
	var body auditBody
	if c.Request.Body != nil {
		// The subject and amount are read from the start of the body; the
		// handler reads the whole body, under its own limit, as sent.
		raw, err := io.ReadAll(io.LimitReader(c.Request.Body, MaxBody))
		if err == nil {
			_ = json.Unmarshal(raw, &body)
		}
		c.Request.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(raw), c.Request.Body), c.Request.Body}
	}
	held := &heldWriter{ResponseWriter: c.Writer, header: http.Header{}}
	c.Writer = held
	defer func() {
		// A handler that panics is answered 500 by recoverJSON around this
		// chain: its entry is written, failed, and the panic goes on.
		if p := recover(); p != nil {
			c.Writer = held.ResponseWriter
			g.append(c, held, body, http.StatusInternalServerError)
			panic(p)
		}
	}()
	c.Next()
	c.Writer = held.ResponseWriter
	if err := g.append(c, held, body, held.Status()); err != nil {
		_ = c.Error(err)
		c.Writer.Header().Set("Content-Type", "application/json; charset=utf-8")
		c.Writer.Header().Set("Retry-After", "1")
		c.Writer.WriteHeader(http.StatusServiceUnavailable)
		_, _ = c.Writer.Write([]byte(`{"error":{"code":"STORE_BUSY","message":"the audit log could not be written; the action may have been done: ask again with the same idempotency key"}}`))
		return
	}
	held.release()
}

// append writes the entry of the call c answered with status.
func (g guard) append(c *gin.Context, held *heldWriter, body auditBody, status int) error {
	e := cloudpay.AuditEntry{
		RequestID: c.GetString(requestIDHeader), Function: g.function, Method: c.Request.Method, Route: c.FullPath(),
		Subject: auditSubject(c, body), AmountFen: cloudpay.Fen(body.AmountFen), Status: status, At: time.Now().UTC(),
	}
	if v, ok := c.Get(identityKey); ok {
		id := v.(identity)
		e.Actor, e.Role = id.Name, id.Role
	} else {
		e.Actor = "unknown"
	}
	switch s := status; {
	case s < 300:
		e.Outcome = cloudpay.AuditDone
	case s < 500:
		e.Outcome = cloudpay.AuditRefused
	default:
		e.Outcome = cloudpay.AuditFailed
	}
	if status >= 400 {
		var eb struct {
			Error struct {
				Code cloudpay.Code `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(held.buf.Bytes(), &eb)
		e.Code = eb.Error.Code
	}
	e.ID = cloudpay.AuditID(e.At)
	// The action is done whether or not the caller still waits: so is its entry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c), auditTimeout)
	defer cancel()
	return g.audit.AppendAudit(ctx, e)
}

// auditSubject is what a call acted on: the route's own parameter, else the
// body's order, payment or credit.
func auditSubject(c *gin.Context, b auditBody) string {
	for _, p := range []string{"out_refund_no", "out_trade_no", "openid", "batch_id", "id", "date"} {
		if v := c.Param(p); v != "" {
			return v
		}
	}
	for _, v := range []string{b.OutTradeNo, b.TransactionID, b.CreditID} {
		if v != "" {
			return v
		}
	}
	return ""
}

// heldWriter holds an answer until released.
type heldWriter struct {
	gin.ResponseWriter
	header http.Header
	status int
	buf    bytes.Buffer
}

func (w *heldWriter) Header() http.Header { return w.header }
func (w *heldWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *heldWriter) WriteHeaderNow()                   {}
func (w *heldWriter) Write(b []byte) (int, error)       { return w.buf.Write(b) }
func (w *heldWriter) WriteString(s string) (int, error) { return w.buf.WriteString(s) }
func (w *heldWriter) Written() bool                     { return w.status != 0 || w.buf.Len() > 0 }
func (w *heldWriter) Size() int                         { return w.buf.Len() }
func (w *heldWriter) Flush()                            {}
func (w *heldWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// release sends the held answer.
func (w *heldWriter) release() {
	dst := w.ResponseWriter.Header()
	for k, v := range w.header {
		dst[k] = v
	}
	w.ResponseWriter.WriteHeader(w.Status())
	_, _ = w.ResponseWriter.Write(w.buf.Bytes())
}
