package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/outbox"
)

// DeadLetters lists and redelivers business events whose delivery gave up.
type DeadLetters interface {
	DeadLetters(ctx context.Context, limit int) ([]outbox.Letter, error)
	Redeliver(ctx context.Context, id string) (outbox.Letter, error)
}

type deadLetterHandlers struct {
	dead DeadLetters
}

const maxDeadLetters = 200

func (h deadLetterHandlers) list(c *gin.Context) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeadLetters {
			fail(c, cloudpay.FieldError("limit", "limit must be an integer between 1 and %d", maxDeadLetters))
			return
		}
		limit = n
	}
	letters, err := h.dead.DeadLetters(c, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewDeadLetters(letters))
}

func (h deadLetterHandlers) redeliver(c *gin.Context) {
	var none struct{}
	if !bindOptional(c, &none) {
		return
	}
	l, err := h.dead.Redeliver(c, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewDeadLetter(l))
}
