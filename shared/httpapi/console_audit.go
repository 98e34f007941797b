package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
)

// AuditReader reads the audit log (mongostore.Store).
type AuditReader interface {
	Audit(ctx context.Context, q mongostore.AuditQuery) ([]cloudpay.AuditEntry, error)
}

// auditIDPattern is what an entry's id looks like (cloudpay.AuditID).
var auditIDPattern = regexp.MustCompile(`^[0-9]{19}-[0-9A-Za-z_-]+$`)

// mountConsoleAudit adds GET /admin/api/audit?actor=&subject=&from=&to=&before=
// (dates yyyy-mm-dd, Beijing; before: the last page's oldest entry's id): who did what.
func mountConsoleAudit(r gin.IRoutes, log AuditReader, g guard) {
	r.GET("/admin/api/audit", g.console(), func(c *gin.Context) {
		q := mongostore.AuditQuery{Actor: c.Query("actor"), Subject: c.Query("subject")}
		day := func(field string) (time.Time, bool) {
			v := c.Query(field)
			if v == "" {
				return time.Time{}, true
			}
			t, err := time.ParseInLocation(time.DateOnly, v, cloudpay.Beijing)
			if err != nil {
				fail(c, cloudpay.FieldError(field, "%s must be a date, yyyy-mm-dd", field))
				return time.Time{}, false
			}
			return t, true
		}
		var ok bool
		if q.From, ok = day("from"); !ok {
			return
		}
		if q.To, ok = day("to"); !ok {
			return
		}
		if !q.To.IsZero() {
			q.To = q.To.AddDate(0, 0, 1) // through that day
		}
		if v := c.Query("before"); v != "" {
			if len(v) > 64 || !auditIDPattern.MatchString(v) {
				fail(c, cloudpay.FieldError("before", "before must be an entry's id"))
				return
			}
			q.Before = v
		}
		q.Limit = 50
		list, err := log.Audit(c, q)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, auditPageView{Entries: mapSlice(list, viewAudit)})
	})
}

type auditPageView struct {
	Entries []auditView `json:"entries"`
}

// auditView is one audit entry as people read it.
type auditView struct {
	ID        string    `json:"id"`
	Actor     string    `json:"actor"`
	Role      string    `json:"role"`
	Function  string    `json:"function"`
	Method    string    `json:"method"`
	Route     string    `json:"route"`
	Subject   string    `json:"subject,omitempty"`
	AmountFen int64     `json:"amount_fen,omitempty"`
	Status    int       `json:"status"`
	Code      string    `json:"code,omitempty"`
	Outcome   string    `json:"outcome"`
	RequestID string    `json:"request_id,omitempty"`
	At        time.Time `json:"at"`
}

func viewAudit(e cloudpay.AuditEntry) auditView {
	return auditView{ID: e.ID, Actor: e.Actor, Role: string(e.Role), Function: e.Function, Method: e.Method, Route: e.Route,
		Subject: e.Subject, AmountFen: int64(e.AmountFen), Status: e.Status, Code: string(e.Code), Outcome: e.Outcome,
		RequestID: e.RequestID, At: e.At.UTC()}
}
