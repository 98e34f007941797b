package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/job"
)

// JobConfig admits the scheduler.
type JobConfig struct {
	// Tokens is JOB_TOKEN: the scheduler's bearer token (comma-separated
	// while rotating). It is not an admin token: it can run passes only.
	Tokens []string `env:"JOB_TOKEN, required"`
}

// CloseExpired is the close-expired function's handler: POST /run makes
// one pass of the job (scheduler's token); dead letters for admins.
// dead may be nil when no notification URL is configured.
func CloseExpired(j *job.Job, dead DeadLetters, jobCfg JobConfig, admin AdminConfig, log *slog.Logger) http.Handler {
	log = orDiscard(log)
	r := newEngine("close-expired", log)
	r.POST("/run", bearer(jobCfg.Tokens), func(c *gin.Context) {
		var none struct{}
		if !bindOptional(c, &none) {
			return
		}
		c.JSON(http.StatusOK, viewJobReport(j.Run(c)))
	})
	if dead != nil {
		h := deadLetterHandlers{dead: dead}
		g := newGuard("close-expired", admin)
		r.GET("/dead-letters", g.console(), h.list)
		r.POST("/dead-letters/:id/redeliver", append(g.act(deciders...), h.redeliver)...)
	}
	return r
}
